// Command dlq is the operator's tool for the purchase events' dead-letter
// queue (SPEC §4):
//
//	dlq list    --dlq URL [--reason REGEX] [--format table|json|csv]
//	dlq redrive --dlq URL --queue URL [--reason REGEX] [--limit N] [--dry-run]
//	dlq export  --dlq URL [--reason REGEX]
//	dlq purge   --dlq URL --older-than DURATION --yes
//
// --dlq defaults to $DLQ_URL, --queue to $QUEUE_URL. AWS endpoints and
// credentials come only from the SDK's standard configuration (AWS_REGION,
// AWS_ENDPOINT_URL_SQS, profiles). The work is in internal/dlq; this command
// only reads flags and the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(exitOK)
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "dlq: %v\n", err)
		os.Exit(exitUsage)
	default:
		fmt.Fprintf(os.Stderr, "dlq: %v\n", err)
		os.Exit(exitFailed)
	}
}
