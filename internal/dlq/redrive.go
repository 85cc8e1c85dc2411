package dlq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/sqs"
)

// redriveBatchBytes keeps a redrive batch within 256 KiB, so that it fits a
// queue with the former default MaximumMessageSize; a larger message goes
// alone.
const redriveBatchBytes = 256 * 1024

// RedriveSummary says what a redrive did.
type RedriveSummary struct {
	// Read is the number of distinct messages read from the DLQ.
	Read int `json:"read"`
	// Matched is the number of those the selection chose.
	Matched int `json:"matched"`
	// Sent is the number sent back to the queue.
	Sent int `json:"sent"`
	// Deleted is the number deleted from the DLQ after they were sent.
	Deleted int `json:"deleted"`
	// Failed is the number not sent, or sent and not deleted; they stay
	// on the DLQ, and sending them again later is safe.
	Failed int `json:"failed"`
	// Skipped is the number matched and not sent: all of them in a dry
	// run, else those whose identity cannot be an idempotency key (fix
	// them with export and publish them again).
	Skipped int `json:"skipped"`
	// DryRun is true when nothing was sent or deleted.
	DryRun bool `json:"dryRun"`
	// Truncated is true when reading stopped at the tool's bound.
	Truncated bool `json:"truncated,omitempty"`
}

// ErrNotAllRedriven is returned (wrapped) when some messages failed.
var ErrNotAllRedriven = errors.New("not every message was redriven")

// Redrive sends the messages of dlqURL that sel chooses back to queueURL,
// each with message attribute idempotencyKey set to its identity, the other
// attributes kept (but error and sourceMessageId), and deletes each from the
// DLQ only once SQS accepted it on the queue. It works in batches of up to
// ten, writing a progress line after each. With dryRun it sends and deletes
// nothing. The error wraps ErrNotAllRedriven when a message failed; the
// summary is complete either way.
func (t *Tool) Redrive(ctx context.Context, dlqURL, queueURL string, sel Select, dryRun bool) (RedriveSummary, error) {
	sum := RedriveSummary{DryRun: dryRun}
	if dlqURL == queueURL {
		return sum, fmt.Errorf("the queue and the dead-letter queue are both %s", dlqURL)
	}
	for _, u := range []string{dlqURL, queueURL} {
		if err := t.CheckQueue(ctx, u); err != nil {
			return sum, err
		}
	}
	r := t.newReader(dlqURL)
	fifo := strings.HasSuffix(queueURL, ".fifo")
	for sel.Limit <= 0 || sum.Matched < sel.Limit {
		batch, err := r.next(ctx)
		if err != nil {
			sum.Read, sum.Truncated = r.read, r.truncated
			return sum, errors.Join(err, r.release(ctx))
		}
		if len(batch) == 0 {
			break
		}
		var send []Message
		for _, m := range batch {
			if !sel.match(m) || (sel.Limit > 0 && sum.Matched >= sel.Limit) {
				continue
			}
			sum.Matched++
			switch {
			case dryRun:
				sum.Skipped++
				fmt.Fprintf(t.progress, "dlq redrive: would send %s as identity %s (reason %s)\n", m.ID, m.Identity, showReason(m))
			case purchase.CheckIdempotencyKey(m.Identity) != nil:
				sum.Skipped++
				fmt.Fprintf(t.progress, "dlq redrive: skipped %s: its identity %q cannot be an idempotency key; fix it with dlq export and sqsloop publish --key-field\n", m.ID, m.Identity)
			default:
				send = append(send, m)
			}
		}
		for len(send) > 0 {
			n, size := 0, 0
			for n < len(send) && n < sqs.MaxBatchEntries && (n == 0 || size+send[n].size() <= redriveBatchBytes) {
				size += send[n].size()
				n++
			}
			t.sendBack(ctx, r, queueURL, fifo, send[:n], &sum)
			send = send[n:]
		}
		sum.Read, sum.Truncated = r.read, r.truncated
		fmt.Fprintf(t.progress, "dlq redrive: read %d, matched %d, sent %d, deleted %d, failed %d, skipped %d\n",
			sum.Read, sum.Matched, sum.Sent, sum.Deleted, sum.Failed, sum.Skipped)
		if ctx.Err() != nil {
			return sum, errors.Join(fmt.Errorf("redrive stopped: %w", ctx.Err()), r.release(ctx))
		}
	}
	sum.Read, sum.Truncated = r.read, r.truncated
	err := r.release(ctx)
	if sum.Failed > 0 {
		err = errors.Join(fmt.Errorf("%d of %d matched messages: %w", sum.Failed, sum.Matched, ErrNotAllRedriven), err)
	}
	return sum, err
}

// sendBack sends msgs (one SendMessageBatch's worth) to queueURL and deletes
// from the DLQ those SQS accepted.
func (t *Tool) sendBack(ctx context.Context, r *reader, queueURL string, fifo bool, msgs []Message, sum *RedriveSummary) {
	entries := make([]types.SendMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = types.SendMessageBatchRequestEntry{
			Id:                aws.String(strconv.Itoa(i)),
			MessageBody:       aws.String(m.Body),
			MessageAttributes: m.redriveAttributes(),
		}
		if fifo {
			entries[i].MessageGroupId = aws.String(nonEmpty(m.Group, "redrive"))
			h := sha256.Sum256([]byte(m.Identity))
			entries[i].MessageDeduplicationId = aws.String(hex.EncodeToString(h[:]))
		}
	}
	notSent, _, err := sqs.SendEntries(ctx, t.client, queueURL, entries, sqs.Resend{Attempts: 3, Backoff: 100 * time.Millisecond})
	var sent []Message
	for i, m := range msgs {
		why, failed := notSent[strconv.Itoa(i)]
		if !failed {
			sent = append(sent, m)
			continue
		}
		sum.Failed++
		if why.Code == sqs.CodeNotSent && err != nil {
			fmt.Fprintf(t.progress, "dlq redrive: %s not sent, left on the DLQ: %v\n", m.ID, err)
		} else {
			fmt.Fprintf(t.progress, "dlq redrive: %s not sent, left on the DLQ: %v\n", m.ID, why)
		}
	}
	sum.Sent += len(sent)
	notDeleted := r.deleteMessages(ctx, sent)
	sum.Deleted += len(sent) - len(notDeleted)
	sum.Failed += len(notDeleted)
	for id, err := range notDeleted {
		fmt.Fprintf(t.progress, "dlq redrive: %s sent but still on the DLQ (sending it again is safe): %v\n", id, err)
	}
}

// showReason is a message's reason for people.
func showReason(m Message) string {
	if m.MovedByRedrivePolicy() {
		return NoReason
	}
	return strconv.Quote(m.Reason)
}

// NoReason is what the tool shows for the reason of a message the queue's
// redrive policy moved.
const NoReason = "(none: moved by the redrive policy)"

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
