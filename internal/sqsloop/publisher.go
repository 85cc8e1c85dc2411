package sqsloop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/sqs"
)

// Limits of one SendMessageBatch call the Publisher keeps to: ten entries and
// 256 KiB, so that a batch fits a queue with the former default
// MaximumMessageSize too. A larger body goes alone.
const (
	publishBatchEntries = 10
	publishBatchBytes   = 256 * 1024
)

// Publisher sends message bodies to one queue with SendMessageBatch, ten per
// call, and sends again the entries SQS fails for reasons of its own. With a
// key field, each message carries its idempotency key (SPEC §4), the same on
// every try.
type Publisher struct {
	client   sqs.SendMessageBatchAPI
	queueURL string
	attempts int
	backoff  time.Duration
	keyField string
	log      *slog.Logger
}

// PublisherOption configures a Publisher.
type PublisherOption func(*Publisher)

// WithPublishAttempts sets how many times an entry is sent before it is
// reported as failed (default 5). Entries SQS rejects as the sender's fault
// (e.g. invalid characters) are never sent again.
func WithPublishAttempts(n int) PublisherOption {
	return func(p *Publisher) { p.attempts = max(n, 1) }
}

// WithPublishBackoff sets the longest wait before the first resend of failed
// entries; it doubles on each further attempt, with full jitter (default 100ms).
func WithPublishBackoff(d time.Duration) PublisherOption {
	return func(p *Publisher) { p.backoff = d }
}

// WithKeyField makes each body a JSON object whose field name (a string or a
// number) is sent as the message attribute idempotencyKey, so that the
// aggregator counts a body sent twice once. A body without the field, or with
// a value that is not a valid key, stops the publishing with an error naming
// its line.
func WithKeyField(name string) PublisherOption {
	return func(p *Publisher) { p.keyField = name }
}

// WithPublisherLogger sets the logger for resends and failures (default: discard).
func WithPublisherLogger(l *slog.Logger) PublisherOption {
	return func(p *Publisher) { p.log = l }
}

// NewPublisher returns a Publisher sending to queueURL.
func NewPublisher(client sqs.SendMessageBatchAPI, queueURL string, opts ...PublisherOption) *Publisher {
	p := &Publisher{
		client:   client,
		queueURL: queueURL,
		attempts: 5,
		backoff:  100 * time.Millisecond,
		log:      slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// PublishResult says what became of the bodies given to a Publisher.
type PublishResult struct {
	// Sent is the number of messages SQS accepted.
	Sent int `json:"sent"`
	// Calls is the number of SendMessageBatch calls made.
	Calls int `json:"calls"`
	// Resent is the number of entries sent again after SQS failed them.
	Resent int `json:"resent"`
	// Failed lists the bodies that were not sent, in input order.
	Failed []PublishFailure `json:"failed,omitempty"`
}

// PublishFailure is a body SQS did not accept.
type PublishFailure struct {
	// Line is the body's 1-based position in the input (its line number).
	Line int `json:"line"`
	// Code is SQS's error code, Message its reason.
	Code    string `json:"code"`
	Message string `json:"message"`
	// SenderFault is true when the body itself was refused.
	SenderFault bool `json:"senderFault"`
}

// ErrNotAllSent is returned (wrapped) when some bodies were not accepted;
// PublishResult.Failed says which and why.
var ErrNotAllSent = errors.New("not every message was sent")

// ErrNoKey is returned (wrapped, with the line) when a Publisher with a key
// field meets a body it cannot take an idempotency key from. The lines before
// it were sent; publishing the file again once it is fixed sends them again
// under the same keys, which the aggregator does not count twice.
var ErrNoKey = errors.New("no idempotency key")

// Publish sends bodies in order; a body's Line is its index + 1.
func (p *Publisher) Publish(ctx context.Context, bodies []string) (PublishResult, error) {
	var res PublishResult
	b := p.newBatch(&res)
	for i, body := range bodies {
		if err := b.add(ctx, i+1, body); err != nil {
			return res, err
		}
	}
	return res, b.finish(ctx)
}

// PublishLines sends each non-blank line of r as one message body (a JSON
// lines file of purchase events). Bodies are sent as they are, valid or not:
// judging them is the consumer's job.
func (p *Publisher) PublishLines(ctx context.Context, r io.Reader) (PublishResult, error) {
	var res PublishResult
	b := p.newBatch(&res)
	br := bufio.NewReader(r)
	for line := 1; ; line++ {
		raw, readErr := br.ReadBytes('\n')
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return res, fmt.Errorf("read line %d: %w", line, readErr)
		}
		body := bytes.TrimRight(raw, "\r\n")
		if len(bytes.TrimSpace(body)) > 0 {
			if err := b.add(ctx, line, string(body)); err != nil {
				return res, err
			}
		}
		if readErr != nil {
			break
		}
	}
	return res, b.finish(ctx)
}

// batch gathers entries until a SendMessageBatch call is full.
type batch struct {
	p       *Publisher
	res     *PublishResult
	entries []entry
	bytes   int
}

type entry struct {
	line      int
	body, key string
}

func (p *Publisher) newBatch(res *PublishResult) *batch {
	return &batch{p: p, res: res}
}

func (b *batch) add(ctx context.Context, line int, body string) error {
	e := entry{line: line, body: body}
	if b.p.keyField != "" {
		key, err := KeyOf([]byte(body), b.p.keyField)
		if err != nil {
			if ferr := b.flush(ctx); ferr != nil {
				return ferr
			}
			return fmt.Errorf("line %d: %w", line, err)
		}
		e.key = key
	}
	size := e.size()
	if len(b.entries) == publishBatchEntries || (len(b.entries) > 0 && b.bytes+size > publishBatchBytes) {
		if err := b.flush(ctx); err != nil {
			return err
		}
	}
	b.entries = append(b.entries, e)
	b.bytes += size
	return nil
}

// attributes are the message attributes of e: its idempotency key, if any.
func (e entry) attributes() map[string]types.MessageAttributeValue {
	if e.key == "" {
		return nil
	}
	return map[string]types.MessageAttributeValue{sqs.AttrIdempotencyKey: sqs.StringAttribute(e.key)}
}

// size is what e counts against the batch limit.
func (e entry) size() int {
	n := len(e.body)
	for name, v := range e.attributes() {
		n += sqs.AttributeSize(name, v)
	}
	return n
}

func (b *batch) finish(ctx context.Context) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	if n := len(b.res.Failed); n > 0 {
		return fmt.Errorf("%d of %d messages: %w", n, n+b.res.Sent, ErrNotAllSent)
	}
	return nil
}

// flush sends the gathered entries, resending those SQS failed through no
// fault of theirs, with exponential backoff.
func (b *batch) flush(ctx context.Context) error {
	if len(b.entries) == 0 {
		return nil
	}
	pending := b.entries
	b.entries, b.bytes = nil, 0
	lines := make(map[string]int, len(pending))
	in := make([]types.SendMessageBatchRequestEntry, len(pending))
	for i, e := range pending {
		id := "line-" + strconv.Itoa(e.line)
		lines[id] = e.line
		in[i] = types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(e.body), MessageAttributes: e.attributes()}
	}
	failed, st, err := sqs.SendEntries(ctx, b.p.client, b.p.queueURL, in, sqs.Resend{Attempts: b.p.attempts, Backoff: b.p.backoff})
	b.res.Calls += st.Calls
	b.res.Resent += st.Resent
	if st.Resent > 0 {
		b.p.log.InfoContext(ctx, "resent failed entries", "entries", st.Resent)
	}
	b.res.Sent += len(pending) - len(failed)
	for id, why := range failed {
		pf := PublishFailure{Line: lines[id], Code: why.Code, Message: why.Message, SenderFault: why.SenderFault}
		b.p.log.WarnContext(ctx, "message not sent", "line", pf.Line, "code", pf.Code, "reason", pf.Message, "senderFault", pf.SenderFault)
		b.res.Failed = append(b.res.Failed, pf)
	}
	slices.SortFunc(b.res.Failed, func(x, y PublishFailure) int { return x.Line - y.Line })
	if err != nil {
		// The SDK has already retried throttling and transient errors.
		return fmt.Errorf("send lines %d-%d: %w", pending[0].line, pending[len(pending)-1].line, err)
	}
	return nil
}
