package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/sqs"
)

// Client is the part of the SQS client the tool uses.
type Client interface {
	GetQueueAttributes(ctx context.Context, in *awssqs.GetQueueAttributesInput, optFns ...func(*awssqs.Options)) (*awssqs.GetQueueAttributesOutput, error)
	ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, optFns ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *awssqs.ChangeMessageVisibilityBatchInput, optFns ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *awssqs.DeleteMessageBatchInput, optFns ...func(*awssqs.Options)) (*awssqs.DeleteMessageBatchOutput, error)
	SendMessageBatch(ctx context.Context, in *awssqs.SendMessageBatchInput, optFns ...func(*awssqs.Options)) (*awssqs.SendMessageBatchOutput, error)
}

// Defaults of a Tool.
const (
	// DefaultMaxMessages bounds how many messages one command reads.
	DefaultMaxMessages = 10000
	// Hold is how long read messages stay invisible while the tool works;
	// they come back by themselves after it if the tool dies.
	Hold = 5 * time.Minute
	// receiveWait is the long-polling wait, in seconds, of each receive: a
	// receive that waits asks every SQS server, so an empty answer means
	// the queue has no visible message left.
	receiveWait = 1
)

// Tool works on dead-letter queues through an SQS client.
type Tool struct {
	client   Client
	progress io.Writer
	max      int
}

// Option configures a Tool.
type Option func(*Tool)

// WithProgress sets where progress lines go (default: discarded).
func WithProgress(w io.Writer) Option { return func(t *Tool) { t.progress = w } }

// WithMaxMessages bounds how many distinct messages one command reads
// (default DefaultMaxMessages).
func WithMaxMessages(n int) Option { return func(t *Tool) { t.max = max(n, 1) } }

// New returns a Tool using client.
func New(client Client, opts ...Option) *Tool {
	t := &Tool{
		client:   client,
		progress: io.Discard,
		max:      DefaultMaxMessages,
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

// ErrBadQueueURL is returned (wrapped) for a string that is not an SQS queue
// URL.
var ErrBadQueueURL = errors.New("not an SQS queue URL (want https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")

// CheckQueueURL returns an error wrapping ErrBadQueueURL unless s looks like a
// queue URL: http(s)://HOST/ACCOUNT/NAME.
func CheckQueueURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q: %w: %w", s, ErrBadQueueURL, err)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(parts) != 2 || parts[0] == "" || parts[1] == "" || u.RawQuery != "" {
		return fmt.Errorf("%q: %w", s, ErrBadQueueURL)
	}
	return nil
}

// CheckQueue returns an error, saying whether the queue does not exist or SQS
// could not be reached, unless the queue at queueURL answers.
func (t *Tool) CheckQueue(ctx context.Context, queueURL string) error {
	if err := CheckQueueURL(queueURL); err != nil {
		return err
	}
	_, err := t.client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	var missing *types.QueueDoesNotExist
	switch {
	case errors.As(err, &missing):
		return fmt.Errorf("queue %s does not exist: %w", queueURL, err)
	case err != nil:
		return fmt.Errorf("reach queue %s (AWS configuration: AWS_REGION, AWS_ENDPOINT_URL_SQS, credentials): %w", queueURL, err)
	}
	return nil
}

// Select chooses messages.
type Select struct {
	// Reason, when set, keeps the messages whose reason it matches; a
	// message the redrive policy moved has reason "" (matched by ^$).
	Reason *regexp.Regexp
	// Limit, when positive, is the most messages chosen.
	Limit int
}

func (s Select) match(m Message) bool {
	return s.Reason == nil || s.Reason.MatchString(m.Reason)
}

// ReadStats says how much of a queue a command read.
type ReadStats struct {
	// Read is the number of distinct messages read.
	Read int `json:"read"`
	// Truncated is true when reading stopped at the bound: the queue may
	// hold more messages.
	Truncated bool `json:"truncated,omitempty"`
}

// List returns the messages of the dead-letter queue at dlqURL that sel
// chooses, in the order received, and leaves every message on the queue.
func (t *Tool) List(ctx context.Context, dlqURL string, sel Select) ([]Message, ReadStats, error) {
	if err := t.CheckQueue(ctx, dlqURL); err != nil {
		return nil, ReadStats{}, err
	}
	r := t.newReader(dlqURL)
	var out []Message
	for sel.Limit <= 0 || len(out) < sel.Limit {
		batch, err := r.next(ctx)
		if err != nil {
			return out, r.stats(), errors.Join(err, r.release(ctx))
		}
		if len(batch) == 0 {
			break
		}
		for _, m := range batch {
			if sel.match(m) && (sel.Limit <= 0 || len(out) < sel.Limit) {
				out = append(out, m)
			}
		}
	}
	return out, r.stats(), r.release(ctx)
}

// reader reads a queue once through: each message at most once, up to the
// tool's bound, holding what it read invisible until release.
type reader struct {
	t         *Tool
	url       string
	held      map[string]string // message id -> receipt handle, not deleted
	seen      map[string]bool
	read      int
	truncated bool
	done      bool
}

func (t *Tool) newReader(queueURL string) *reader {
	return &reader{t: t, url: queueURL, held: map[string]string{}, seen: map[string]bool{}}
}

func (r *reader) stats() ReadStats { return ReadStats{Read: r.read, Truncated: r.truncated} }

// next returns the next messages not read before, none when the queue has no
// more visible messages or the bound is reached.
func (r *reader) next(ctx context.Context) ([]Message, error) {
	for !r.done {
		if r.read >= r.t.max {
			r.truncated, r.done = true, true
			break
		}
		out, err := r.t.client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(r.url),
			MaxNumberOfMessages:         int32(min(10, r.t.max-r.read)), //nolint:gosec // G115: 1 to 10
			VisibilityTimeout:           int32(Hold / time.Second),
			WaitTimeSeconds:             receiveWait,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			return nil, fmt.Errorf("receive from %s: %w", r.url, err)
		}
		var fresh []Message
		for _, m := range out.Messages {
			msg := newMessage(m)
			r.held[msg.ID] = msg.receipt
			if r.seen[msg.ID] {
				continue
			}
			r.seen[msg.ID] = true
			r.read++
			fresh = append(fresh, msg)
		}
		if len(fresh) > 0 {
			return fresh, nil
		}
		// Nothing new: the queue has no visible message left, or only
		// ones whose hold ran out.
		r.done = true
	}
	return nil, nil
}

// deleted marks messages as gone from the queue.
func (r *reader) deleted(ids ...string) {
	for _, id := range ids {
		delete(r.held, id)
	}
}

// release makes every message read and not deleted visible again.
func (r *reader) release(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	var entries []types.ChangeMessageVisibilityBatchRequestEntry
	for _, receipt := range r.held {
		entries = append(entries, types.ChangeMessageVisibilityBatchRequestEntry{
			Id: aws.String(strconv.Itoa(len(entries))), ReceiptHandle: aws.String(receipt), VisibilityTimeout: 0,
		})
	}
	r.held = map[string]string{}
	var errs []error
	for len(entries) > 0 {
		n := min(len(entries), sqs.MaxBatchEntries)
		out, err := r.t.client.ChangeMessageVisibilityBatch(ctx, &awssqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(r.url), Entries: entries[:n]})
		entries = entries[n:]
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("make read messages visible again on %s (they come back after %s anyway): %w", r.url, Hold, errors.Join(errs...))
	}
	return nil
}

// deleteMessages deletes msgs (at most ten) from the reader's queue and
// returns the ids not deleted, with why.
func (r *reader) deleteMessages(ctx context.Context, msgs []Message) map[string]error {
	failed := map[string]error{}
	if len(msgs) == 0 {
		return failed
	}
	entries := make([]types.DeleteMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.receipt)}
	}
	out, err := r.t.client.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.url), Entries: entries})
	if err != nil {
		for _, m := range msgs {
			failed[m.ID] = fmt.Errorf("delete from %s: %w", r.url, err)
		}
		return failed
	}
	for _, f := range out.Failed {
		if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i >= 0 && i < len(msgs) {
			failed[msgs[i].ID] = fmt.Errorf("delete from %s: %s: %s", r.url, aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	var gone []string
	for _, m := range msgs {
		if failed[m.ID] == nil {
			gone = append(gone, m.ID)
		}
	}
	r.deleted(gone...)
	return failed
}
