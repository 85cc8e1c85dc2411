package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdaurl"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/acmecheckout/reports/internal/api"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/lake"
	"github.com/acmecheckout/reports/internal/lambdainit"
	"github.com/acmecheckout/reports/internal/secrets"
	"github.com/acmecheckout/reports/internal/warehouse"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // bad configuration, or the server failed
	exitUsage  = 2 // bad command line
)

const usage = `usage:
  api serve [--addr HOST:PORT]   serve the read API over plain HTTP (default 127.0.0.1:8080)
  api help                       show this help
Under AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it serves its Function URL.

routes:
  GET /api/datapoints/{datapoint}             one datapoint's count
  GET /api/reports/{report}[?day=YYYY-MM-DD]  a report (day: daily reports only)
  GET /api/{job}/latest                       each series' newest row of a markets job
  GET /api/{job}?ticker=T[&start=D][&end=D]   a series' rows, by date, in pages ("next" cursor)

environment:
  TABLE_NAME         datapoints table of the reports (DynamoDB)
  DATABASE_URL       PostgreSQL URL of the markets warehouse: a base64 KMS ciphertext made for
                     this function (encryption context LambdaFunctionName), unless SECRETS_PLAINTEXT=true
  LAKE_URL           s3://BUCKET/PREFIX of the markets lake, read when DATABASE_URL is unset
  SECRETS_PLAINTEXT  true: DATABASE_URL is in clear (local runs)
  CORS_ALLOW_ORIGIN  origin of the browser UI allowed to read the API (several: comma-separated; *: any)
  plus the AWS SDK's standard settings (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_KMS, ...).
At least one of TABLE_NAME, DATABASE_URL and LAKE_URL is required; the routes of a missing source answer 404.
`

// Settings read from the environment.
const (
	envTable       = "TABLE_NAME"
	envDatabaseURL = "DATABASE_URL"
	envLakeURL     = "LAKE_URL"
	envCORS        = "CORS_ALLOW_ORIGIN"
	envRuntimeAPI  = "AWS_LAMBDA_RUNTIME_API"
)

// run runs the command with args (without the program name) and returns its
// exit code. Under Lambda it serves invocations until the process ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	if runtimeAPI := getenv(envRuntimeAPI); runtimeAPI != "" && len(args) == 0 {
		return serveLambda(ctx, runtimeAPI, getenv, logger)
	}

	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "`address` to listen on")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fmt.Fprintln(stderr, "flags of serve:")
		fs.PrintDefaults()
	}
	if len(args) == 0 {
		fs.Usage()
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "serve":
	default:
		fmt.Fprintf(stderr, "api: unknown command %q\n", args[0])
		fs.Usage()
		return exitUsage
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "api: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return exitUsage
	}

	h, closeAll, err := newHandler(ctx, getenv, logger)
	if err != nil {
		fmt.Fprintln(stderr, "api:", err)
		return exitFailed
	}
	defer closeAll()
	if err := serveHTTP(ctx, *addr, h, stderr); err != nil {
		fmt.Fprintln(stderr, "api:", err)
		return exitFailed
	}
	return exitOK
}

// serveLambda serves Function URL requests; a configuration error is posted
// to the Runtime API's init/error before exiting 1.
func serveLambda(ctx context.Context, runtimeAPI string, getenv func(string) string, logger *slog.Logger) int {
	h, closeAll, err := newHandler(ctx, getenv, logger)
	if err != nil {
		logger.Error("read api cannot start", "error", err.Error())
		if perr := lambdainit.PostError(ctx, runtimeAPI, lambdainit.ConfigError, err); perr != nil {
			logger.Error("report init error", "error", perr.Error())
		}
		return exitFailed
	}
	defer closeAll()
	lambda.StartWithOptions(lambdaurl.Wrap(h), lambda.WithContext(ctx))
	return exitOK
}

// serveHTTP serves h on addr until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, addr string, h http.Handler, stderr io.Writer) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "api: serving http://%s/api/ (Ctrl-C stops)\n", l.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// newHandler reads the configuration, decrypts DATABASE_URL and builds the
// API over its sources; closeAll releases them. Errors are configuration
// errors and name no secret.
func newHandler(ctx context.Context, getenv func(string) string, logger *slog.Logger) (h http.Handler, closeAll func(), err error) {
	table, databaseURL, lakeURL := getenv(envTable), getenv(envDatabaseURL), getenv(envLakeURL)
	if table == "" && databaseURL == "" && lakeURL == "" {
		return nil, nil, fmt.Errorf("nothing to serve: set %s (reports), %s or %s (markets data)", envTable, envDatabaseURL, envLakeURL)
	}
	var reports api.Reports
	if table != "" {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		reports = dynamo.New(dynamodb.NewFromConfig(cfg), table, dynamo.WithLogger(logger))
	}
	var market api.MarketData
	closeAll = func() {}
	switch {
	case databaseURL != "":
		dec, err := secrets.FromEnv(ctx, getenv)
		if err != nil {
			return nil, nil, err
		}
		dsn, err := secrets.NewCache(dec, getenv).Get(ctx, envDatabaseURL)
		if err != nil {
			return nil, nil, err
		}
		// Its errors never hold the URL, user, host or password.
		w, err := warehouse.OpenReadOnly(dsn)
		if err != nil {
			return nil, nil, err
		}
		market, closeAll = w, w.Close
	case lakeURL != "":
		if market, err = openLake(ctx, lakeURL); err != nil {
			return nil, nil, err
		}
	}
	return api.New(reports, market, api.WithAllowOrigin(getenv(envCORS)), api.WithLogger(logger)), closeAll, nil
}

// openLake returns the market data read from the lake's Parquet objects at
// lakeURL (SPEC §7), when there is no warehouse: each request reads the
// objects it needs, no Athena on the request path.
func openLake(ctx context.Context, lakeURL string) (api.MarketData, error) {
	l, err := lake.Open(ctx, lakeURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envLakeURL, err)
	}
	return l, nil
}
