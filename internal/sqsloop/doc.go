// Package sqsloop runs the purchase pipeline's SQS side locally, for
// cmd/sqsloop and the end-to-end tests: a Publisher sends JSON-lines files to
// a queue (ten bodies per SendMessageBatch, failed entries sent again,
// optionally each with its idempotency key), and a Poller stands in for
// Lambda's SQS event source mapping, handing batches in the Lambda event shape
// to a handler and deleting what succeeded.
//
// It is not a production event source: Lambda's mapping scales pollers,
// batches by window and size, and backs off in ways the Poller does not try to
// copy.
package sqsloop
