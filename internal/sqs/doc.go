// Package sqs adapts Amazon SQS to the purchase reports. It sends invalid
// purchase events to a dead-letter queue (DeadLetter) with the message
// attributes SPEC §4 names (AttrError, AttrSourceMessageID,
// AttrIdempotencyKey), and holds the batch sending the other SQS clients of
// this module share: SendEntries sends up to ten entries in one call and
// sends again, unchanged, the entries SQS failed through no fault of theirs.
//
// The package takes an SQS client; it does not build one. Callers build it
// from the SDK's standard configuration, so the same code talks to AWS and to
// an emulator (AWS_ENDPOINT_URL_SQS).
package sqs
