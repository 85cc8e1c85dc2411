package sqsloop

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// PollerAPI is the part of the SQS client a Poller uses.
type PollerAPI interface {
	ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, optFns ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *awssqs.DeleteMessageBatchInput, optFns ...func(*awssqs.Options)) (*awssqs.DeleteMessageBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *awssqs.GetQueueAttributesInput, optFns ...func(*awssqs.Options)) (*awssqs.GetQueueAttributesOutput, error)
}

// BatchHandler handles a batch of messages as Lambda's SQS event source
// delivers it, with ReportBatchItemFailures: the aggregator's Handle method.
type BatchHandler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// Poller is a local stand-in for Lambda's SQS event source mapping: it
// long-polls a queue, hands each batch to a BatchHandler in the Lambda SQS
// event shape, deletes the messages that succeeded and leaves the failed ones
// to come back after their visibility timeout, so the queue's redrive policy
// applies as it does in AWS.
type Poller struct {
	client    PollerAPI
	queueURL  string
	handle    BatchHandler
	batchSize int32
	wait      time.Duration
	log       *slog.Logger

	queueARN, region string
}

// PollerOption configures a Poller.
type PollerOption func(*Poller)

// WithBatchSize sets the most messages per batch, 1 to 10 (default 10).
func WithBatchSize(n int) PollerOption {
	return func(p *Poller) { p.batchSize = int32(min(max(n, 1), 10)) }
}

// WithWaitTime sets the long-polling wait of each receive, up to 20s
// (default 20s, as Lambda polls).
func WithWaitTime(d time.Duration) PollerOption {
	return func(p *Poller) { p.wait = min(max(d, 0), 20*time.Second) }
}

// WithPollerLogger sets the logger for batches and failures (default: discard).
func WithPollerLogger(l *slog.Logger) PollerOption {
	return func(p *Poller) { p.log = l }
}

// NewPoller returns a Poller feeding the messages of queueURL to handle.
func NewPoller(client PollerAPI, queueURL string, handle BatchHandler, opts ...PollerOption) *Poller {
	p := &Poller{
		client:    client,
		queueURL:  queueURL,
		handle:    handle,
		batchSize: 10,
		wait:      20 * time.Second,
		log:       slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// PollStats counts what a Poller did.
type PollStats struct {
	// Batches is the number of handler invocations.
	Batches int `json:"batches"`
	// Messages is the number of messages received (a message received
	// again counts again).
	Messages int `json:"messages"`
	// Deleted is the number of messages handled successfully and deleted.
	Deleted int `json:"deleted"`
	// Failed is the number of messages the handler failed (or that were
	// not deleted), left to their visibility timeout.
	Failed int `json:"failed"`
}

func (s *PollStats) add(o PollStats) {
	s.Batches += o.Batches
	s.Messages += o.Messages
	s.Deleted += o.Deleted
	s.Failed += o.Failed
}

// Run polls until ctx is done, then returns the stats and nil. It returns an
// error when SQS itself fails (after the SDK's retries).
func (p *Poller) Run(ctx context.Context) (PollStats, error) {
	return p.loop(ctx, false)
}

// Drain polls until the queue holds no message, visible, in flight or
// delayed (by SQS's approximate counts), or until ctx is done, which is an
// error. Failed messages keep coming back until the redrive policy moves
// them away, so Drain ends only on a queue with one, or when all succeed.
func (p *Poller) Drain(ctx context.Context) (PollStats, error) {
	return p.loop(ctx, true)
}

func (p *Poller) loop(ctx context.Context, untilEmpty bool) (PollStats, error) {
	var total PollStats
	for {
		if untilEmpty {
			empty, err := p.empty(ctx)
			if err != nil {
				return total, err
			}
			if empty {
				return total, nil
			}
		}
		st, err := p.PollOnce(ctx)
		total.add(st)
		if ctx.Err() != nil {
			if untilEmpty {
				return total, fmt.Errorf("drain %s: %w", p.queueURL, ctx.Err())
			}
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// PollOnce receives one batch (waiting up to the long-polling time), hands
// it to the handler and deletes what succeeded. It returns zero stats when
// no message came.
func (p *Poller) PollOnce(ctx context.Context) (PollStats, error) {
	var st PollStats
	if err := p.resolveQueue(ctx); err != nil {
		return st, err
	}
	out, err := p.client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(p.queueURL),
		MaxNumberOfMessages:         p.batchSize,
		WaitTimeSeconds:             int32(p.wait / time.Second), //nolint:gosec // G115: WithWaitTime keeps the wait within 0 to 20s
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return st, fmt.Errorf("receive from %s: %w", p.queueURL, err)
	}
	if len(out.Messages) == 0 {
		return st, nil
	}
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(out.Messages))}
	for i, m := range out.Messages {
		ev.Records[i] = LambdaMessage(m, p.queueARN, p.region)
	}
	st.Batches, st.Messages = 1, len(ev.Records)

	failed := p.invoke(ctx, ev)
	var del []types.DeleteMessageBatchRequestEntry
	for i, r := range ev.Records {
		if !failed[r.MessageId] {
			del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.ReceiptHandle)})
		}
	}
	st.Failed = len(ev.Records) - len(del)
	if len(del) == 0 {
		return st, nil
	}
	dout, err := p.client.DeleteMessageBatch(ctx, &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.queueURL), Entries: del})
	if err != nil {
		st.Failed += len(del)
		return st, fmt.Errorf("delete %d handled messages from %s: %w", len(del), p.queueURL, err)
	}
	for _, f := range dout.Failed {
		// The message comes back after its visibility timeout; the
		// aggregator's idempotency table keeps it from being counted twice.
		p.log.WarnContext(ctx, "delete failed", "entry", aws.ToString(f.Id), "code", aws.ToString(f.Code), "reason", aws.ToString(f.Message))
	}
	st.Deleted = len(dout.Successful)
	st.Failed += len(del) - st.Deleted
	return st, nil
}

// invoke runs the handler and returns the ids of the messages that failed.
// Like Lambda, it fails the whole batch when the handler returns an error or
// names a message that is not in the batch.
func (p *Poller) invoke(ctx context.Context, ev events.SQSEvent) map[string]bool {
	all := func() map[string]bool {
		m := make(map[string]bool, len(ev.Records))
		for _, r := range ev.Records {
			m[r.MessageId] = true
		}
		return m
	}
	resp, err := p.handle(ctx, ev)
	if err != nil {
		p.log.ErrorContext(ctx, "handler failed the whole batch", "messages", len(ev.Records), "err", err)
		return all()
	}
	inBatch := all()
	failed := make(map[string]bool, len(resp.BatchItemFailures))
	for _, f := range resp.BatchItemFailures {
		if !inBatch[f.ItemIdentifier] {
			p.log.ErrorContext(ctx, "handler reported an unknown message id; failing the whole batch", "itemIdentifier", f.ItemIdentifier)
			return inBatch
		}
		failed[f.ItemIdentifier] = true
	}
	if len(failed) > 0 {
		p.log.InfoContext(ctx, "batch item failures left to the visibility timeout", "failed", len(failed), "messages", len(ev.Records))
	}
	return failed
}

// resolveQueue looks up the queue's ARN once, for eventSourceARN and awsRegion.
func (p *Poller) resolveQueue(ctx context.Context) error {
	if p.queueARN != "" {
		return nil
	}
	out, err := p.client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(p.queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("get arn of %s: %w", p.queueURL, err)
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	parts := strings.Split(arn, ":") // arn:aws:sqs:REGION:ACCOUNT:NAME
	if len(parts) != 6 {
		return fmt.Errorf("queue %s has an unexpected arn %q", p.queueURL, arn)
	}
	p.queueARN, p.region = arn, parts[3]
	return nil
}

// empty reports whether the queue holds no visible, in-flight or delayed message.
func (p *Poller) empty(ctx context.Context) (bool, error) {
	names := []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	}
	out, err := p.client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(p.queueURL), AttributeNames: names})
	if err != nil {
		return false, fmt.Errorf("count messages of %s: %w", p.queueURL, err)
	}
	for _, n := range names {
		if v := out.Attributes[string(n)]; v != "0" {
			return false, nil
		}
	}
	return true, nil
}

// LambdaMessage converts a received SQS message into the record Lambda's SQS
// event source would deliver for it.
func LambdaMessage(m types.Message, queueARN, region string) events.SQSMessage {
	attrs := make(map[string]events.SQSMessageAttribute, len(m.MessageAttributes))
	for name, a := range m.MessageAttributes {
		attrs[name] = events.SQSMessageAttribute{
			StringValue:      a.StringValue,
			BinaryValue:      a.BinaryValue,
			StringListValues: orEmpty(a.StringListValues),
			BinaryListValues: orEmpty(a.BinaryListValues),
			DataType:         aws.ToString(a.DataType),
		}
	}
	sys := make(map[string]string, len(m.Attributes))
	for k, v := range m.Attributes {
		sys[k] = v
	}
	return events.SQSMessage{
		MessageId:              aws.ToString(m.MessageId),
		ReceiptHandle:          aws.ToString(m.ReceiptHandle),
		Body:                   aws.ToString(m.Body),
		Md5OfBody:              aws.ToString(m.MD5OfBody),
		Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes:             sys,
		MessageAttributes:      attrs,
		EventSourceARN:         queueARN,
		EventSource:            "aws:sqs",
		AWSRegion:              region,
	}
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
