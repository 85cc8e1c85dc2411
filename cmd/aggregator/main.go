// Command aggregator counts purchase events into the report datapoints.
//
// In AWS Lambda (provided.al2023, built with -tags lambda.norpc) it handles
// the purchase queue's SQS batches with partial batch responses. Elsewhere it
// is a command for replays and backfills: it reads an SQS event
// ({"Records": [...]}) or JSON lines of purchase events on stdin, counts them
// and prints a JSON summary, exiting non-zero if any event was invalid or
// failed (stderr says which and why).
//
// Environment: TABLE_NAME (required), IDEMPOTENCY_TABLE_NAME, DLQ_URL, and the
// AWS SDK's standard settings (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, ...).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/acmecheckout/reports/internal/aggregator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := aggregator.Main{
		Getenv: os.Getenv,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Start:  func(h any) { lambda.StartWithOptions(h, lambda.WithContext(ctx)) },
	}
	code := m.Run(ctx)
	stop()
	os.Exit(code)
}
