// Command aggregator counts purchase events into the report datapoints.
//
// In AWS Lambda (provided.al2023, built with -tags lambda.norpc) it handles
// the purchase queue's SQS batches with partial batch responses. Elsewhere it
// is a command for replays and backfills: it reads an SQS event
// ({"Records": [...]}) or JSON lines of purchase events from the files named
// on the command line, or stdin, counts them and prints a JSON summary,
// exiting 1 if any event was invalid or failed (stderr says which and why),
// 2 on a configuration or input error.
//
//	aggregator [--source LABEL] [--key-field NAME] [FILE ...]
//
// A JSON line's identity is a hash of its input's name (the file name as
// given, "stdin", or --source), its line number and its content, or the
// value of its field NAME with --key-field (see aggregator.Replay).
//
// Environment: TABLE_NAME (required), IDEMPOTENCY_TABLE_NAME, DLQ_URL, and the
// AWS SDK's standard settings (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, ...).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], Env{
		Getenv: os.Getenv,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		// The aggregator holds nothing to close at shutdown, so it needs no
		// lambda.WithEnableSIGTERM (which would register an extension).
		Start: func(h any) { lambda.StartWithOptions(h, lambda.WithContext(ctx)) },
	})
	stop()
	var exit exitError
	switch {
	case errors.As(err, &exit):
		os.Exit(exit.ExitCode())
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
