// Command etl is the markets ETL (SPEC §5, §6). Under Lambda
// (AWS_LAMBDA_RUNTIME_API set) it serves invocations {"jobs": [...],
// "startDate": ..., "endDate": ...}; otherwise it is a command:
//
//	etl run [--catalog FILE] [--lake URL] [--job NAME]... [--start DATE] [--end DATE]
//	etl catalog check [--format table|json|csv] [FILE]
//	etl lake check [--format table|json|csv] [--lake URL]
//	etl migrate
//	etl help
//
// main only wires: it reads the configuration (README: "The markets ETL"),
// builds the secrets, the sinks (the warehouse, the lake) and the source
// clients, and hands them to internal/etl.
package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/acmecheckout/reports/internal/etl"
	"github.com/acmecheckout/reports/internal/lambdainit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // could not start, or a run failed
	exitUsage = 2 // malformed command line
)

// run runs the program and returns its exit code. Under Lambda it serves
// invocations until the process ends (EMF metrics on stdout, logs on
// stderr); otherwise it runs the command args (the summary or table on
// stdout, logs and progress on stderr).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	if api := getenv(envRuntimeAPI); api != "" {
		return serve(ctx, api, getenv, stdout, logger)
	}
	return (&cli{getenv: getenv, stdout: stdout, stderr: stderr, logger: logger}).run(ctx, args)
}

// serve runs the function under Lambda. A configuration error (including
// an invalid catalog) is posted to the Runtime API's init/error before
// exiting: no invocation runs with it. SIGTERM (sent when an extension is
// registered, as WithEnableSIGTERM does) closes the warehouse's connections.
func serve(ctx context.Context, api string, getenv func(string) string, stdout io.Writer, logger *slog.Logger) int {
	app, err := lambdaApp(ctx, getenv, stdout, logger)
	if err != nil {
		logger.Error("markets etl cannot start", "error", err.Error())
		if perr := lambdainit.PostError(ctx, api, lambdainit.ConfigError, err); perr != nil {
			logger.Error("report init error", "error", perr.Error())
		}
		return exitError
	}
	// app.Invoke: the raw payload, decoded strictly. Start never returns.
	lambda.StartWithOptions(app, lambda.WithContext(ctx), lambda.WithEnableSIGTERM(func() {
		app.Close()
		logger.Info("markets etl closed its connections on SIGTERM")
	}))
	return exitOK
}

// lambdaApp builds the App of the Lambda function.
func lambdaApp(ctx context.Context, getenv func(string) string, metrics io.Writer, logger *slog.Logger) (*etl.App, error) {
	w, err := newWiring(getenv, "", logger)
	if err != nil {
		return nil, err
	}
	cfg, err := w.appConfig(ctx, metrics)
	if err != nil {
		return nil, err
	}
	return etl.NewApp(cfg)
}
