// Command reports reads the purchase reports from the datapoints table, as
// the reporting UI does:
//
//	reports get DATAPOINT
//	reports list REPORT [--day YYYY-MM-DD]
//
// Flags: --table NAME (default $TABLE_NAME), --format json|csv|table (default
// json: the UI's {"datapoint": ..., "events": ...} per line). The daily
// reports (hour-bracket, hour-bracket-method, day-merchant) need --day.
// AWS endpoints and credentials come from the SDK's standard configuration
// (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, profiles).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cli := CLI{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr}
	code := cli.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
