package sqs

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/backoff"
)

// SendMessageBatchAPI is the part of the SQS client that sends batches.
type SendMessageBatchAPI interface {
	SendMessageBatch(ctx context.Context, in *awssqs.SendMessageBatchInput, optFns ...func(*awssqs.Options)) (*awssqs.SendMessageBatchOutput, error)
}

// MaxBatchEntries is the most entries one SendMessageBatch or
// DeleteMessageBatch call takes.
const MaxBatchEntries = 10

// EntryError is why SQS did not accept one entry of a batch.
type EntryError struct {
	Code    string
	Message string
	// SenderFault is true when the entry itself was refused: sending it
	// again cannot help.
	SenderFault bool
}

// Error returns "CODE: message (sender fault)".
func (e *EntryError) Error() string {
	return fmt.Sprintf("%s: %s (sender fault %t)", e.Code, e.Message, e.SenderFault)
}

// CodeNotSent is the EntryError code of an entry still pending when a call
// failed as a whole or the context ended: the error SendEntries returns says
// why.
const CodeNotSent = "NotSent"

// Resend says how often, and after waits of up to Backoff, then doubling
// (full jitter), entries SQS failed through no fault of theirs are sent again.
type Resend struct {
	// Attempts is the most times an entry is sent, at least 1.
	Attempts int
	// Backoff is the longest wait before the first resend.
	Backoff time.Duration
}

// SendStats counts the calls a send made and the entries it sent again.
type SendStats struct {
	Calls, Resent int
}

// SendEntries sends entries (at most ten, within SQS's size limit, with
// distinct Ids) to queueURL with SendMessageBatch, and sends again the ones
// SQS failed through no fault of theirs, or did not confirm, as r says; an
// entry goes again unchanged, with the same attributes. It returns every
// entry not sent, by Id. The error is set when a call failed as a whole (the
// SDK's retryer has already retried transient failures) or ctx ended: the
// entries still pending then are in failed with code CodeNotSent.
func SendEntries(ctx context.Context, api SendMessageBatchAPI, queueURL string, entries []types.SendMessageBatchRequestEntry, r Resend) (failed map[string]*EntryError, st SendStats, err error) {
	failed = map[string]*EntryError{}
	giveUp := func(pending []types.SendMessageBatchRequestEntry, err error) (map[string]*EntryError, SendStats, error) {
		for _, e := range pending {
			failed[aws.ToString(e.Id)] = &EntryError{Code: CodeNotSent, Message: err.Error()}
		}
		return failed, st, err
	}
	attempts := max(r.Attempts, 1)
	pending := entries
	delays := backoff.Doubling(r.Backoff, attempts)
	for attempt := 1; len(pending) > 0; attempt++ {
		if attempt > 1 {
			st.Resent += len(pending)
			if err := backoff.Sleep(ctx, delays.Delay(attempt-1)); err != nil {
				return giveUp(pending, err)
			}
		}
		st.Calls++
		out, err := api.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: pending})
		if err != nil {
			return giveUp(pending, err)
		}
		answered := make(map[string]bool, len(pending))
		for _, s := range out.Successful {
			answered[aws.ToString(s.Id)] = true
		}
		var again []types.SendMessageBatchRequestEntry
		for _, e := range pending {
			id := aws.ToString(e.Id)
			if answered[id] {
				continue
			}
			why := &EntryError{Code: "NotConfirmed", Message: "neither successful nor failed in the answer"}
			for _, f := range out.Failed {
				if aws.ToString(f.Id) == id {
					why = &EntryError{Code: aws.ToString(f.Code), Message: aws.ToString(f.Message), SenderFault: f.SenderFault}
				}
			}
			if why.SenderFault || attempt >= attempts {
				failed[id] = why
				continue
			}
			again = append(again, e)
		}
		pending = again
	}
	return failed, st, nil
}

// AttributeSize is what a message attribute counts against SQS's size
// limits: its name, data type and value.
func AttributeSize(name string, v types.MessageAttributeValue) int {
	return len(name) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
}

// StringAttribute is a message attribute of type String.
func StringAttribute(value string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(value)}
}
