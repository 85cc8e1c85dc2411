// Command sqsloop runs the purchase pipeline locally on emulators (DynamoDB
// Local and fauxqs) or real AWS, with no Lambda:
//
//	sqsloop up [--dir .local]                                   start DynamoDB Local (:4567) and fauxqs (:4566) in the background
//	sqsloop down [--dir .local]                                 stop them
//	sqsloop tables --table T [--idempotency-table T]            create the tables as the stack has them
//	sqsloop queues NAME [--visibility 30s] [--max-receive 3]   create NAME and NAME-dlq with a redrive policy
//	sqsloop generate [--count N --invalid N --merchants N --days N --seed N --start DAY] > day.jsonl
//	sqsloop publish FILE --queue URL [--key-field NAME]         send a JSON-lines file, 10 per SendMessageBatch
//	sqsloop poll --queue URL --table T [--drain]                feed the aggregator as Lambda's event source does
//
// poll reads the aggregator's environment (TABLE_NAME, IDEMPOTENCY_TABLE_NAME,
// DLQ_URL; flags override). AWS endpoints and credentials come from the SDK's
// standard configuration, e.g. AWS_ENDPOINT_URL_SQS=http://127.0.0.1:4566 and
// AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:4567 for the emulators up starts.
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
