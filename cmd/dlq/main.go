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
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command and returns its exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return exitCode(dispatch(ctx, args, getenv, stdout, stderr), stderr)
}

// exitCode writes err, if any, to stderr and returns the exit code for it.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "dlq: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "dlq: %v\n", err)
		return exitFailed
	}
}
