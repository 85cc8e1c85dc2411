// Command etl is the markets ETL (SPEC §5). Under Lambda (AWS_LAMBDA_RUNTIME_API
// set) it serves invocations {"jobs": [...], "startDate": ..., "endDate": ...};
// otherwise it is a command: `etl run [--job NAME]... [--start DATE] [--end DATE]`
// or `etl migrate` (`etl help` needs no configuration). Configuration is
// documented in internal/etl.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/acmecheckout/reports/internal/etl"
	"github.com/acmecheckout/reports/internal/lambdainit"
	"github.com/acmecheckout/reports/internal/warehouse"
)

func main() {
	os.Exit(run())
}

// run runs the program and returns its exit code: 0 on success, 1 when it
// could not start or a run failed, 2 on a malformed command line. Returning
// instead of exiting lets the deferred cleanup run.
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	deps := etl.Deps{Getenv: os.Getenv, Open: open, Logger: logger}
	if runtimeAPI := os.Getenv("AWS_LAMBDA_RUNTIME_API"); runtimeAPI != "" {
		return serve(ctx, runtimeAPI, deps, logger)
	}
	// The CLI parses its arguments first and reads the configuration only
	// for a command that needs it: help works in any shell.
	cli := &etl.CLI{Deps: deps, Stdout: os.Stdout, Stderr: os.Stderr}
	if err := cli.Run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, etl.ErrUsage) {
			return 2
		}
		fmt.Fprintln(os.Stderr, "etl:", err)
		return 1
	}
	return 0
}

// serve runs the function under Lambda; a configuration error is posted to
// the Runtime API's init/error before exiting 1.
func serve(ctx context.Context, runtimeAPI string, deps etl.Deps, logger *slog.Logger) int {
	app, err := etl.NewApp(ctx, deps)
	if err != nil {
		logger.Error("markets etl cannot start", "error", err.Error())
		if perr := lambdainit.PostError(ctx, runtimeAPI, lambdainit.ConfigError, err); perr != nil {
			logger.Error("report init error", "error", perr.Error())
		}
		return 1
	}
	defer app.Close()
	lambda.StartWithOptions(app, lambda.WithContext(ctx)) // app.Invoke: the raw payload, decoded strictly
	return 0
}

// open connects to the warehouse.
func open(ctx context.Context, databaseURL string) (etl.Warehouse, error) {
	return warehouse.Open(ctx, databaseURL)
}
