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
	"github.com/acmecheckout/reports/internal/warehouse"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	app, err := etl.NewApp(ctx, etl.Deps{Getenv: os.Getenv, Open: open, Logger: logger})
	if err != nil {
		logger.Error("markets etl cannot start", "error", err.Error())
		os.Exit(1)
	}
	defer app.Close()

	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		lambda.StartWithOptions(app, lambda.WithContext(ctx)) // app.Invoke: the raw payload, decoded strictly
		return
	}
	cli := &etl.CLI{App: app, Stdout: os.Stdout, Stderr: os.Stderr}
	if err := cli.Run(ctx, os.Args[1:]); err != nil {
		app.Close()
		if errors.Is(err, etl.ErrUsage) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "etl:", err)
		os.Exit(1)
	}
}

// open connects to the warehouse.
func open(ctx context.Context, databaseURL string) (etl.Warehouse, error) {
	return warehouse.Open(ctx, databaseURL)
}
