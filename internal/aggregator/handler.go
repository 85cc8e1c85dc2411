// Package aggregator is the purchase aggregator: it validates the purchase
// events of an SQS batch (SPEC §1), counts the valid ones into the report
// datapoints through a purchase.Counter, parks invalid ones on a dead-letter
// queue, and answers SQS with a partial batch response (SPEC §4).
//
// Main wires it from the environment, as a Lambda function or as a command
// that replays events from standard input.
package aggregator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/acmecheckout/reports/internal/backoff"
	"github.com/acmecheckout/reports/internal/purchase"
)

// DeadLetterer parks invalid events with the reason they were rejected.
// internal/sqs.DeadLetter implements it.
type DeadLetterer interface {
	// Send parks rejected events and returns those not parked, by
	// MessageID, with why.
	Send(ctx context.Context, rejected []purchase.Rejection) map[string]error
}

// Defaults of a Handler.
const (
	// DefaultSafetyMargin is how long before the invocation deadline the
	// store and the dead-letter queue are cut off, so that the response is
	// always sent in time.
	DefaultSafetyMargin = time.Second
	// DefaultRetryRounds is how many more times deliveries the store could
	// not count are handed to it again, while the deadline allows.
	DefaultRetryRounds = 2
	// DefaultFunctionName is the EMF FunctionName dimension outside Lambda.
	DefaultFunctionName = "aggregator"
)

// Handler handles SQS batches of purchase events. It is safe for concurrent
// use and holds no state between invocations.
type Handler struct {
	counter     purchase.Counter
	deadLetter  DeadLetterer
	log         *slog.Logger
	metrics     io.Writer
	function    string
	margin      time.Duration
	retryRounds int
	delays      backoff.Policy
}

// Option configures a Handler.
type Option func(*Handler)

// WithDeadLetter sends invalid events to d instead of reporting them as
// batch item failures.
func WithDeadLetter(d DeadLetterer) Option { return func(h *Handler) { h.deadLetter = d } }

// WithLogger sets the logger for the per-batch summary, invalid events and
// failures (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// WithMetrics writes one CloudWatch Embedded Metric Format line per batch to
// w (in Lambda, stdout), with the FunctionName dimension set to function.
func WithMetrics(w io.Writer, function string) Option {
	return func(h *Handler) { h.metrics, h.function = w, function }
}

// WithSafetyMargin sets how long before the invocation deadline work is cut
// off (default DefaultSafetyMargin; at most half the time left).
func WithSafetyMargin(d time.Duration) Option { return func(h *Handler) { h.margin = d } }

// WithRetries sets how many more rounds deliveries that failed to count are
// retried, waiting up to first, then twice as long (full jitter), between
// rounds (default DefaultRetryRounds, 100ms).
func WithRetries(rounds int, first time.Duration) Option {
	return func(h *Handler) {
		h.retryRounds, h.delays = rounds, backoff.Policy{Base: first, Max: first << min(max(rounds, 0), 16)}
	}
}

// New returns a Handler counting into c.
func New(c purchase.Counter, opts ...Option) *Handler {
	h := &Handler{
		counter:     c,
		log:         slog.Default(),
		function:    DefaultFunctionName,
		margin:      DefaultSafetyMargin,
		retryRounds: DefaultRetryRounds,
		delays:      backoff.Policy{Base: 100 * time.Millisecond, Max: 100 * time.Millisecond << DefaultRetryRounds},
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Summary is what one batch came to; it is logged and emitted as metrics.
type Summary struct {
	// Messages is the number of messages in the batch.
	Messages int `json:"messages"`
	// Valid is the number of valid purchase events among them.
	Valid int `json:"valid"`
	// Invalid is the number of invalid ones (never counted).
	Invalid int `json:"invalid"`
	// DeadLettered is the number of invalid events sent to the dead-letter queue.
	DeadLettered int `json:"deadLettered"`
	// Counted is the number of valid events counted by this batch.
	Counted int `json:"counted"`
	// Duplicates is the number of valid events already counted before (or
	// repeated within the batch), acknowledged and not counted again.
	Duplicates int `json:"duplicates"`
	// Datapoints is the number of distinct datapoint updates written.
	Datapoints int `json:"datapoints"`
	// Transactions is the number of DynamoDB transactions written.
	Transactions int `json:"transactions"`
	// Retries is the number of requests retried after transient failures.
	Retries int `json:"retries"`
	// Failed is the number of messages that could not be counted or
	// dead-lettered; SQS delivers them again.
	Failed int `json:"failed"`
	// DurationMS is how long the batch took, in milliseconds.
	DurationMS float64 `json:"durationMs"`
}

// Add adds the figures of o to s.
func (s *Summary) Add(o Summary) {
	s.Messages += o.Messages
	s.Valid += o.Valid
	s.Invalid += o.Invalid
	s.DeadLettered += o.DeadLettered
	s.Counted += o.Counted
	s.Duplicates += o.Duplicates
	s.Datapoints += o.Datapoints
	s.Transactions += o.Transactions
	s.Retries += o.Retries
	s.Failed += o.Failed
	s.DurationMS += o.DurationMS
}

// Problem names one message that was invalid or failed, and why.
type Problem struct {
	MessageID string `json:"messageId"`
	Reason    string `json:"reason"`
}

// Result is the outcome of one batch.
type Result struct {
	Summary
	// InvalidEvents lists the invalid events in batch order, with their reasons.
	InvalidEvents []Problem
	// FailedMessages lists the messages that failed (not counted, or not
	// dead-lettered), in batch order, with why.
	FailedMessages []Problem
	// ItemFailures are the message ids SQS must deliver again: the failed
	// messages, and the invalid ones when there is no dead-letter queue.
	ItemFailures []string
	// Err is set when nothing in the batch could be counted for a reason no
	// retry fixes (e.g. the table does not exist). Handle then fails the
	// invocation, unless invalid events were already dead-lettered.
	Err error
}

// Handle is the Lambda handler for an SQS event source mapping with
// ReportBatchItemFailures. It returns an error only when the store reports
// a failure no retry can fix; everything else is in the response.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	res := h.Process(ctx, ev.Records)
	if res.Err != nil && res.DeadLettered == 0 {
		return events.SQSEventResponse{}, res.Err
	}
	// With invalid events already on the dead-letter queue, failing the
	// invocation would send them there again: every valid message is in
	// ItemFailures instead, so SQS delivers just those again.
	return Response(res), nil
}

// Response returns the partial batch response for res:
// {"batchItemFailures":[...]}, an empty list (never null) when all succeeded.
func Response(res Result) events.SQSEventResponse {
	failures := make([]events.SQSBatchItemFailure, 0, len(res.ItemFailures))
	for _, id := range res.ItemFailures {
		failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	return events.SQSEventResponse{BatchItemFailures: failures}
}

// Process validates msgs, counts the valid events in one call to the store
// (retrying what failed while the deadline allows), dead-letters the invalid
// ones at the same time, then logs a summary and emits metrics.
func (h *Handler) Process(ctx context.Context, msgs []events.SQSMessage) Result {
	start := time.Now()
	work, cancel := h.workContext(ctx)
	defer cancel()

	res := Result{Summary: Summary{Messages: len(msgs)}}
	var (
		deliveries []purchase.Delivery
		rejected   []purchase.Rejection
		invalid    = make(map[string]string)
		seen       = make(map[string]bool, len(msgs))
	)
	for _, m := range msgs {
		ev, err := purchase.Parse([]byte(m.Body))
		if err != nil {
			res.InvalidEvents = append(res.InvalidEvents, Problem{MessageID: m.MessageId, Reason: err.Error()})
			invalid[m.MessageId] = err.Error()
			rejected = append(rejected, purchase.Rejection{
				MessageID: m.MessageId, Identity: m.MessageId, Body: m.Body, Reason: err.Error(), Group: m.Attributes["MessageGroupId"],
			})
			continue
		}
		res.Valid++
		if seen[m.MessageId] {
			res.Duplicates++ // the same message twice in one batch counts once
			continue
		}
		seen[m.MessageId] = true
		deliveries = append(deliveries, purchase.Delivery{Identity: m.MessageId, Event: ev})
	}
	res.InvalidEvents = nonNil(res.InvalidEvents)
	res.Invalid = len(res.InvalidEvents)

	// Invalid events never wait for the valid ones, nor the reverse.
	var dlqFailed map[string]error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if h.deadLetter != nil && len(rejected) > 0 {
			dlqFailed = h.deadLetter.Send(work, rejected)
		}
	}()
	c := h.count(work, deliveries)
	<-done

	res.Duplicates += len(c.duplicates)
	res.Datapoints, res.Transactions, res.Retries = c.datapoints, c.transactions, c.retries
	res.Err = c.fatal

	// Assemble the outcome in batch order, each message id once.
	reported := make(map[string]bool)
	report := func(id string) {
		if !reported[id] {
			reported[id] = true
			res.ItemFailures = append(res.ItemFailures, id)
		}
	}
	for _, m := range msgs {
		id := m.MessageId
		if reason, bad := invalid[id]; bad {
			switch err, sendFailed := dlqFailed[id]; {
			case h.deadLetter == nil:
				report(id)
			case sendFailed:
				res.FailedMessages = append(res.FailedMessages, Problem{MessageID: id, Reason: fmt.Sprintf("invalid (%s), and %v", reason, err)})
				report(id)
			default:
				res.DeadLettered++
			}
			continue
		}
		if err, failed := c.failed[id]; failed && !reported[id] {
			res.FailedMessages = append(res.FailedMessages, Problem{MessageID: id, Reason: err.Error()})
			report(id)
		}
	}
	res.FailedMessages = nonNil(res.FailedMessages)
	res.Failed = len(res.FailedMessages)
	res.Counted = len(deliveries) - len(c.duplicates) - len(c.failed)
	res.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	h.record(ctx, res)
	return res
}

func nonNil(p []Problem) []Problem {
	if p == nil {
		return []Problem{}
	}
	return p
}

// counted is what the store made of the deliveries.
type counted struct {
	duplicates   map[string]bool
	failed       map[string]error
	datapoints   int
	transactions int
	retries      int
	fatal        error
}

// count hands ds to the store, then hands it again what failed, up to
// h.retryRounds more times while the context allows.
func (h *Handler) count(ctx context.Context, ds []purchase.Delivery) counted {
	c := counted{duplicates: map[string]bool{}, failed: map[string]error{}}
	pending := ds
	// An empty batch still calls the store once: it lets the store settle
	// pending work (a scheduled empty event does just that).
	for round := 0; round == 0 || len(pending) > 0; round++ {
		r, err := h.counter.Add(ctx, pending)
		if err != nil {
			// Fatal only when nothing was counted yet: after an earlier round
			// counted some, failing the invocation would make SQS deliver
			// those again, so the rest is reported message by message.
			if round == 0 && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				c.fatal = fmt.Errorf("count %d events: %w", len(pending), err)
			}
			for _, d := range pending {
				c.failed[d.Identity] = fmt.Errorf("count: %w", err)
			}
			return c
		}
		for _, id := range r.Duplicates {
			c.duplicates[id] = true
		}
		c.datapoints += r.Datapoints
		c.transactions += r.Transactions
		c.retries += r.RequestRetries + r.ConflictRetries
		c.failed = r.Failed
		if len(r.Failed) == 0 || round >= h.retryRounds {
			break
		}
		wait := h.delays.Delay(round + 1)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			break
		}
		if backoff.Sleep(ctx, wait) != nil {
			return c
		}
		next := pending[:0:0]
		for _, d := range pending {
			if _, failed := r.Failed[d.Identity]; failed {
				next = append(next, d)
			}
		}
		pending = next
		c.retries++
	}
	if c.failed == nil {
		c.failed = map[string]error{}
	}
	return c
}

// workContext returns ctx cut off a safety margin before its deadline (at
// most half the time left), so that the response is sent in time.
func (h *Handler) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := h.margin
	if left := time.Until(deadline); left < 2*margin {
		margin = left / 2
	}
	return context.WithDeadline(ctx, deadline.Add(-margin))
}

// record logs the invalid events, the failures and one summary line, and
// writes the EMF metrics line.
func (h *Handler) record(ctx context.Context, res Result) {
	var requestID string
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		requestID = lc.AwsRequestID
	}
	for _, p := range res.InvalidEvents {
		h.log.LogAttrs(ctx, slog.LevelWarn, "invalid event",
			slog.String("messageId", p.MessageID), slog.String("reason", p.Reason))
	}
	for _, p := range res.FailedMessages {
		h.log.LogAttrs(ctx, slog.LevelError, "message failed",
			slog.String("messageId", p.MessageID), slog.String("error", p.Reason))
	}
	level, msg := slog.LevelInfo, "batch processed"
	if res.Err != nil {
		level, msg = slog.LevelError, "batch failed"
	}
	attrs := []slog.Attr{
		slog.Int("messages", res.Messages),
		slog.Int("valid", res.Valid),
		slog.Int("invalid", res.Invalid),
		slog.Int("deadLettered", res.DeadLettered),
		slog.Int("counted", res.Counted),
		slog.Int("duplicates", res.Duplicates),
		slog.Int("datapoints", res.Datapoints),
		slog.Int("transactions", res.Transactions),
		slog.Int("retries", res.Retries),
		slog.Int("failed", res.Failed),
		slog.Int("batchItemFailures", len(res.ItemFailures)),
		slog.Float64("durationMs", res.DurationMS),
	}
	if requestID != "" {
		attrs = append(attrs, slog.String("requestId", requestID))
	}
	if res.Err != nil {
		attrs = append(attrs, slog.String("error", res.Err.Error()))
	}
	h.log.LogAttrs(ctx, level, msg, attrs...)
	if h.metrics != nil {
		if err := WriteEMF(h.metrics, h.function, time.Now(), res.Summary); err != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "write metrics", slog.String("error", err.Error()))
		}
	}
}
