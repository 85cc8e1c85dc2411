// Command demo shows the purchase reports end to end with no AWS account: it
// starts an embedded DynamoDB (minidyn, in process), creates the tables,
// generates a seeded day of realistic purchases with a few invalid events,
// feeds them through the aggregator handler in SQS-shaped batches and prints
// the five reports and a summary. `make demo` runs it; `demo -h` lists the
// flags. With --no-embedded it uses the AWS SDK's standard configuration
// (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, profiles), creating the tables
// where missing unless --no-create.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Library warnings (e.g. that the embedded DynamoDB has no TTL) would
	// clutter the demo; errors still show. --verbose logs the pipeline.
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	d := Demo{Stdout: os.Stdout, Stderr: os.Stderr}
	code := d.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
