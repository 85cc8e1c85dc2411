// Package aggregator is the purchase aggregator: it validates the purchase
// events of an SQS batch (SPEC §1), counts the valid ones into the report
// datapoints through a purchase.Counter, parks invalid ones on a dead-letter
// queue, and answers SQS with a partial batch response (SPEC §4).
//
// Each message is counted under its identity: the producer's idempotency key
// (message attribute idempotencyKey) when present, else its SQS message id.
// Messages sharing an identity within a batch are handed to the counter once;
// every message still gets its own answer.
//
// Replay feeds the same handler from an SQS event or JSON lines, for
// backfills (see Replay for how JSON lines are identified). cmd/aggregator
// wires it from the environment.
package aggregator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/acmecheckout/reports/internal/deadline"
	"github.com/acmecheckout/reports/internal/emf"
	"github.com/acmecheckout/reports/internal/purchase"
)

// AttrIdempotencyKey is the SQS message attribute a producer sets to the
// purchase's idempotency key (SPEC §4).
const AttrIdempotencyKey = "idempotencyKey"

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
	// DefaultFunctionName is the EMF FunctionName dimension outside Lambda.
	DefaultFunctionName = "aggregator"
)

// Handler handles SQS batches of purchase events. It is safe for concurrent
// use and holds no state between invocations.
type Handler struct {
	counter    purchase.Counter
	deadLetter DeadLetterer
	log        *slog.Logger
	metrics    *emf.Writer
	function   string
	margin     time.Duration
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
	return func(h *Handler) {
		h.metrics = emf.New(w, Namespace, [][]string{{"FunctionName"}}, metrics())
		h.function = function
	}
}

// WithSafetyMargin sets how long before the invocation deadline work is cut
// off (default DefaultSafetyMargin; at most half the time left).
func WithSafetyMargin(d time.Duration) Option { return func(h *Handler) { h.margin = d } }

// New returns a Handler counting into c.
func New(c purchase.Counter, opts ...Option) *Handler {
	h := &Handler{
		counter:  c,
		log:      slog.Default(),
		function: DefaultFunctionName,
		margin:   DefaultSafetyMargin,
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Summary is what one batch came to; it is logged and emitted as metrics.
// Its figures are declared once, in figures (metrics.go).
type Summary struct {
	// Messages is the number of messages in the batch.
	Messages int `json:"messages"`
	// Valid is the number of valid purchase events among them.
	Valid int `json:"valid"`
	// Invalid is the number of invalid ones (never counted).
	Invalid int `json:"invalid"`
	// DeadLettered is the number of invalid events sent to the dead-letter queue.
	DeadLettered int `json:"deadLettered"`
	// Counted is the number of purchases (identities) counted by this batch.
	Counted int `json:"counted"`
	// Duplicates is the number of valid messages whose purchase was counted
	// before, or by another message of the batch with the same identity:
	// acknowledged and not counted again.
	Duplicates int `json:"duplicates"`
	// Failed is the number of messages that could not be counted or
	// dead-lettered; SQS delivers them again.
	Failed int `json:"failed"`
	// Datapoints is the number of distinct datapoint increments applied.
	Datapoints int `json:"datapoints"`
	// Transactions is the number of DynamoDB transactions written.
	Transactions int `json:"transactions"`
	// WriteUnits is the DynamoDB write capacity the batch consumed.
	WriteUnits float64 `json:"writeUnits"`
	// RequestRetries is the number of requests retried after a transient
	// failure (throttling, 5xx, timeouts).
	RequestRetries int `json:"requestRetries"`
	// ConflictRetries is the number of transactions retried after a
	// transaction conflict.
	ConflictRetries int `json:"conflictRetries"`
	// DurationMS is how long the batch took, in milliseconds.
	DurationMS float64 `json:"durationMs"`
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
// (each identity once), dead-letters the invalid ones at the same time, then
// logs a summary and emits metrics. The store is called even when no message
// is valid, so that it can settle pending work.
func (h *Handler) Process(ctx context.Context, msgs []events.SQSMessage) Result {
	start := time.Now()
	work, cancel := deadline.WithMargin(ctx, h.margin)
	defer cancel()

	res := Result{Summary: Summary{Messages: len(msgs)}}
	var (
		deliveries []purchase.Delivery
		rejected   []purchase.Rejection
		invalid    = make(map[string]string)            // reason by message id
		identityOf = make(map[string]string, len(msgs)) // identity by valid message id
		queued     = make(map[string]bool, len(msgs))   // identities handed to the store
	)
	for _, m := range msgs {
		identity, err := identify(m)
		var ev purchase.Event
		if err == nil {
			ev, err = purchase.Parse([]byte(m.Body))
		}
		if err != nil {
			res.InvalidEvents = append(res.InvalidEvents, Problem{MessageID: m.MessageId, Reason: err.Error()})
			invalid[m.MessageId] = err.Error()
			rejected = append(rejected, purchase.Rejection{
				MessageID: m.MessageId, Identity: identity, Body: m.Body, Reason: err.Error(), Group: m.Attributes["MessageGroupId"],
			})
			continue
		}
		res.Valid++
		if _, seen := identityOf[m.MessageId]; !seen {
			identityOf[m.MessageId] = identity
		}
		// The store takes each identity once per call: the first delivery
		// of it (the same message twice, or a producer's retry) is counted.
		if !queued[identity] {
			queued[identity] = true
			deliveries = append(deliveries, purchase.Delivery{Identity: identity, Event: ev})
		}
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

	res.Datapoints, res.Transactions, res.WriteUnits = c.Datapoints, c.Transactions, c.WriteUnits
	res.RequestRetries, res.ConflictRetries = c.RequestRetries, c.ConflictRetries
	res.Err = c.fatal

	// Assemble the outcome in batch order, each message id once: a message
	// whose identity failed fails; of those whose identity succeeded, the
	// first counts it (unless the store had it already) and the others are
	// duplicates.
	reported := make(map[string]bool)
	claimed := make(map[string]bool)
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
		identity := identityOf[id]
		if err, failed := c.failed[identity]; failed {
			if !reported[id] {
				res.FailedMessages = append(res.FailedMessages, Problem{MessageID: id, Reason: err.Error()})
				report(id)
			}
			continue
		}
		if c.duplicates[identity] || claimed[identity] {
			res.Duplicates++
			continue
		}
		claimed[identity] = true
		res.Counted++
	}
	res.FailedMessages = nonNil(res.FailedMessages)
	res.Failed = len(res.FailedMessages)
	res.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	h.record(ctx, res)
	return res
}

// identify returns the identity m is counted under: its idempotencyKey
// attribute when present, else its message id. A present but malformed key
// is an error naming the attribute; the identity is then the message id.
func identify(m events.SQSMessage) (string, error) {
	a, ok := m.MessageAttributes[AttrIdempotencyKey]
	if !ok {
		return m.MessageId, nil
	}
	if a.StringValue == nil || (a.DataType != "" && !strings.HasPrefix(a.DataType, "String")) {
		return m.MessageId, fmt.Errorf("message attribute %s: not a String attribute (data type %q)", AttrIdempotencyKey, a.DataType)
	}
	if err := purchase.CheckIdempotencyKey(*a.StringValue); err != nil {
		return m.MessageId, fmt.Errorf("message attribute %s: %w", AttrIdempotencyKey, err)
	}
	return *a.StringValue, nil
}

func nonNil(p []Problem) []Problem {
	if p == nil {
		return []Problem{}
	}
	return p
}

// counted is what the store made of the deliveries, by identity.
type counted struct {
	purchase.AddResult
	duplicates map[string]bool
	failed     map[string]error
	fatal      error
}

// count hands ds to the store once (an empty ds too). What fails is reported
// for SQS to deliver again: the store has already retried transient failures
// and conflicts.
func (h *Handler) count(ctx context.Context, ds []purchase.Delivery) counted {
	r, err := h.counter.Add(ctx, ds)
	c := counted{AddResult: r, duplicates: make(map[string]bool, len(r.Duplicates)), failed: r.Failed}
	if c.failed == nil {
		c.failed = map[string]error{}
	}
	for _, id := range r.Duplicates {
		c.duplicates[id] = true
	}
	if err != nil {
		// Fatal (the invocation fails) only for a reason no retry fixes, not
		// when time ran out.
		if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			c.fatal = fmt.Errorf("count %d events: %w", len(ds), err)
		}
		for _, d := range ds {
			c.failed[d.Identity] = fmt.Errorf("count: %w", err)
		}
	}
	return c
}

// record logs the invalid events, the failures and one summary line, and
// writes the EMF metrics line.
func (h *Handler) record(ctx context.Context, res Result) {
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
	attrs := append(res.attrs(), slog.Int("batchItemFailures", len(res.ItemFailures)))
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		attrs = append(attrs, slog.String("requestId", lc.AwsRequestID))
	}
	if res.Err != nil {
		attrs = append(attrs, slog.String("error", res.Err.Error()))
	}
	h.log.LogAttrs(ctx, level, msg, attrs...)
	if h.metrics != nil {
		dims := map[string]string{"FunctionName": cmp.Or(h.function, DefaultFunctionName)}
		if err := h.metrics.Write(time.Now(), dims, res.metricValues()); err != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "write metrics", slog.String("error", err.Error()))
		}
	}
}
