// Command etl is the markets ETL (SPEC §5). Under Lambda (AWS_LAMBDA_RUNTIME_API
// set) it serves invocations {"jobs": [...], "startDate": ..., "endDate": ...};
// otherwise it is a command: `etl run [--job NAME]... [--start DATE] [--end DATE]`
// or `etl migrate`. Configuration is documented in internal/etl.
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
	runtimeAPI := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	app, err := etl.NewApp(ctx, etl.Deps{Getenv: os.Getenv, Open: open, Logger: logger})
	if err != nil {
		logger.Error("markets etl cannot start", "error", err.Error())
		if runtimeAPI != "" {
			if perr := lambdainit.PostError(ctx, runtimeAPI, lambdainit.ConfigError, err); perr != nil {
				logger.Error("report init error", "error", perr.Error())
			}
		}
		return 1
	}
	defer app.Close()

	if runtimeAPI != "" {
		lambda.StartWithOptions(app, lambda.WithContext(ctx)) // app.Invoke: the raw payload, decoded strictly
		return 0
	}
	cli := &etl.CLI{App: app, Stdout: os.Stdout, Stderr: os.Stderr}
	if err := cli.Run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, etl.ErrUsage) {
			return 2
		}
		fmt.Fprintln(os.Stderr, "etl:", err)
		return 1
	}
	return 0
}

// open connects to the warehouse.
func open(ctx context.Context, databaseURL string) (etl.Warehouse, error) {
	return warehouse.Open(ctx, databaseURL)
}
