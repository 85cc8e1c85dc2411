// Command sqsloop runs the purchase pipeline locally on an SQS emulator
// (fauxqs) or a real queue, with no Lambda:
//
//	sqsloop queues NAME [--visibility 30s] [--max-receive 3]   create NAME and NAME-dlq with a redrive policy
//	sqsloop generate [--count N --invalid N --merchants N --days N --seed N --start DAY] > day.jsonl
//	sqsloop publish FILE --queue URL                            send a JSON-lines file, 10 per SendMessageBatch
//	sqsloop poll --queue URL --table T [--drain]                feed the aggregator as Lambda's event source does
//
// poll reads the aggregator's environment (TABLE_NAME, IDEMPOTENCY_TABLE_NAME,
// DLQ_URL; flags override). AWS endpoints and credentials come from the SDK's
// standard configuration, e.g. AWS_ENDPOINT_URL_SQS=http://localhost:4566 for
// fauxqs and AWS_ENDPOINT_URL_DYNAMODB for a local DynamoDB.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cli := CLI{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	code := cli.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
