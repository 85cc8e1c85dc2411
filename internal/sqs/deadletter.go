package sqs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/purchase"
)

// Message attributes every dead-lettered message carries.
const (
	// AttrError holds why the message was rejected.
	AttrError = "error"
	// AttrSourceMessageID holds the id of the message as first received.
	AttrSourceMessageID = "sourceMessageId"
	// AttrIdempotencyKey holds the identity the event is or would be counted
	// under (SPEC §4); producers set it on purchase messages too.
	AttrIdempotencyKey = "idempotencyKey"
)

// maxBatchBytes is the largest total payload (bodies and attributes) of one
// SendMessageBatch call: 1 MiB since SQS raised its message size limit.
const maxBatchBytes = 1 << 20

// DeadLetter sends rejected messages to one SQS queue.
type DeadLetter struct {
	client SendMessageBatchAPI
	url    string
	fifo   bool
	resend Resend
}

// NewDeadLetter returns a DeadLetter sending to the queue at url. A FIFO queue
// (url ending in .fifo) gets each message in its original group, or group
// "invalid" when it had none, deduplicated on the source message id. Entries
// SQS fails through no fault of theirs are sent again, three times in all.
func NewDeadLetter(client SendMessageBatchAPI, url string) *DeadLetter {
	return &DeadLetter{client: client, url: url, fifo: strings.HasSuffix(url, ".fifo"),
		resend: Resend{Attempts: 3, Backoff: 50 * time.Millisecond}}
}

// Send sends msgs with SendMessageBatch, at most ten and 1 MiB per call. It
// returns the messages that were not sent, by MessageID, with why: every
// message of a call that failed as a whole, and each entry SQS refused or
// kept failing. Transient failures of a call are retried by the SDK's
// retryer, of an entry by SendEntries. A nil map means all were sent.
func (d *DeadLetter) Send(ctx context.Context, msgs []purchase.Rejection) map[string]error {
	var failed map[string]error
	fail := func(id string, err error) {
		if failed == nil {
			failed = make(map[string]error)
		}
		failed[id] = err
	}
	for len(msgs) > 0 {
		n, size := 0, 0
		for n < len(msgs) && n < MaxBatchEntries {
			s := d.size(msgs[n])
			if n > 0 && size+s > maxBatchBytes {
				break
			}
			size += s
			n++
		}
		batch := msgs[:n]
		msgs = msgs[n:]

		entries := make([]types.SendMessageBatchRequestEntry, len(batch))
		for i, m := range batch {
			entries[i] = d.entry(strconv.Itoa(i), m)
		}
		notSent, _, err := SendEntries(ctx, d.client, d.url, entries, d.resend)
		for i, m := range batch {
			if why, ok := notSent[strconv.Itoa(i)]; ok {
				if why.Code == CodeNotSent {
					fail(m.MessageID, fmt.Errorf("send to dead-letter queue: %w", err))
				} else {
					fail(m.MessageID, fmt.Errorf("send to dead-letter queue: entry failed: %w", why))
				}
			}
		}
	}
	return failed
}

func (d *DeadLetter) entry(id string, m purchase.Rejection) types.SendMessageBatchRequestEntry {
	e := types.SendMessageBatchRequestEntry{
		Id:          aws.String(id),
		MessageBody: aws.String(m.Body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			AttrError:           StringAttribute(nonEmpty(m.Reason, "invalid")),
			AttrSourceMessageID: StringAttribute(nonEmpty(m.MessageID, "unknown")),
			AttrIdempotencyKey:  StringAttribute(identity(m)),
		},
	}
	if d.fifo {
		e.MessageGroupId = aws.String(nonEmpty(m.Group, "invalid"))
		sum := sha256.Sum256([]byte(m.MessageID))
		e.MessageDeduplicationId = aws.String(hex.EncodeToString(sum[:]))
	}
	return e
}

// size is a message's size as SQS counts it against the batch limit: the body
// plus each attribute's name, data type and value.
func (d *DeadLetter) size(m purchase.Rejection) int {
	return len(m.Body) +
		len(AttrError) + len("String") + len(nonEmpty(m.Reason, "invalid")) +
		len(AttrSourceMessageID) + len("String") + len(nonEmpty(m.MessageID, "unknown")) +
		len(AttrIdempotencyKey) + len("String") + len(identity(m))
}

// identity is the idempotencyKey attribute of a rejected event: its identity,
// else its message id.
func identity(m purchase.Rejection) string {
	return nonEmpty(m.Identity, nonEmpty(m.MessageID, "unknown"))
}

// nonEmpty returns s, or def when s is empty (SQS rejects empty attribute values).
func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
