// Package sqs adapts Amazon SQS to the purchase reports: it sends invalid
// purchase events to a dead-letter queue with the reason they were rejected.
//
// Clients come from the SDK's standard configuration, so the same code talks
// to AWS and to an emulator (AWS_ENDPOINT_URL_SQS).
package sqs
