package sqsloop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/sqs/sqstest"
	"github.com/acmecheckout/reports/internal/sqsloop"
	"github.com/acmecheckout/reports/internal/testenv"
)

var updatePoller = flag.Bool("update-poller", false, "rewrite testdata/poller-event.json")

// loopQueueCounts returns a queue's visible and in-flight message counts.
func loopQueueCounts(t *testing.T, c *awssqs.Client, url string) (visible, inFlight int) {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatalf("queue attributes: %v", err)
	}
	visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	inFlight, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return visible, inFlight
}

// TestPollerEventShape checks the batch handed to the handler against the
// Lambda SQS event shape in testdata/poller-event.json (ids, receipt handles
// and timestamps, which change on every run, are replaced by placeholders).
func TestPollerEventShape(t *testing.T) {
	testenv.Fauxqs(t)
	c := sqstest.Client(t)
	url := sqstest.Queue(t, c, "purchases", nil)
	ctx := context.Background()
	bodies := purchaseLines(2)
	if _, err := sqsloop.NewPublisher(c, url).Publish(ctx, bodies[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx, &awssqs.SendMessageInput{
		QueueUrl:    aws.String(url),
		MessageBody: aws.String(bodies[1]),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"source": {DataType: aws.String("String"), StringValue: aws.String("checkout")},
		},
	}); err != nil {
		t.Fatal(err)
	}

	var got events.SQSEvent
	handler := func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		got = ev
		return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}, nil
	}
	st, err := sqsloop.NewPoller(c, url, handler, sqsloop.WithWaitTime(time.Second)).PollOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st != (sqsloop.PollStats{Batches: 1, Messages: 2, Deleted: 2}) {
		t.Errorf("stats = %+v", st)
	}
	for i := range got.Records {
		r := &got.Records[i]
		if r.MessageId == "" || r.ReceiptHandle == "" {
			t.Fatalf("record %d lacks messageId or receiptHandle: %+v", i, r)
		}
		for _, k := range []string{"SentTimestamp", "ApproximateFirstReceiveTimestamp"} {
			if _, err := strconv.ParseInt(r.Attributes[k], 10, 64); err != nil {
				t.Errorf("record %d attribute %s = %q, want epoch milliseconds", i, k, r.Attributes[k])
			}
			r.Attributes[k] = "EPOCH-MS"
		}
		r.MessageId, r.ReceiptHandle = "MESSAGE-ID-"+strconv.Itoa(i), "RECEIPT-HANDLE"
	}
	raw, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	raw = append(raw, '\n')
	path := filepath.Join("testdata", "poller-event.json")
	if *updatePoller {
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update-poller to create it): %v", err)
	}
	if !bytes.Equal(raw, want) {
		t.Errorf("event differs from %s:\ngot:\n%s\nwant:\n%s", path, raw, want)
	}
	if v, f := loopQueueCounts(t, c, url); v+f != 0 {
		t.Errorf("queue still holds %d visible, %d in flight after success", v, f)
	}
}

// TestPollerFailures checks that what the handler fails stays on the queue,
// with Lambda's rules for a partial batch response.
func TestPollerFailures(t *testing.T) {
	tests := []struct {
		name       string
		handle     func(ev events.SQSEvent) (events.SQSEventResponse, error)
		wantFailed int
	}{
		{"all succeed", func(events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, nil
		}, 0},
		{"one item failure", func(ev events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: ev.Records[1].MessageId}}}, nil
		}, 1},
		{"handler error fails the batch", func(events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, errors.New("table missing")
		}, 3},
		{"unknown item identifier fails the batch", func(events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "not-in-batch"}}}, nil
		}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testenv.Fauxqs(t)
			c := sqstest.Client(t)
			url := sqstest.Queue(t, c, "purchases", map[string]string{"VisibilityTimeout": "30"})
			ctx := context.Background()
			if _, err := sqsloop.NewPublisher(c, url).Publish(ctx, purchaseLines(3)); err != nil {
				t.Fatal(err)
			}
			handler := func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				return tc.handle(ev)
			}
			st, err := sqsloop.NewPoller(c, url, handler, sqsloop.WithWaitTime(time.Second)).PollOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := sqsloop.PollStats{Batches: 1, Messages: 3, Deleted: 3 - tc.wantFailed, Failed: tc.wantFailed}
			if st != want {
				t.Errorf("stats = %+v, want %+v", st, want)
			}
			if v, f := loopQueueCounts(t, c, url); v != 0 || f != tc.wantFailed {
				t.Errorf("queue holds %d visible, %d in flight; want 0, %d", v, f, tc.wantFailed)
			}
		})
	}
}

func TestPollerRunStopsWithContext(t *testing.T) {
	testenv.Fauxqs(t)
	c := sqstest.Client(t)
	url := sqstest.Queue(t, c, "purchases", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	handler := func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, nil
	}
	st, err := sqsloop.NewPoller(c, url, handler, sqsloop.WithWaitTime(time.Second)).Run(ctx)
	if err != nil || st != (sqsloop.PollStats{}) {
		t.Fatalf("Run on an empty queue = %+v, %v; want zero stats, nil", st, err)
	}
}

// TestPollerDrainIsBounded: a message that fails forever on a queue with no
// redrive policy never lets Drain finish; the context bounds it.
func TestPollerDrainIsBounded(t *testing.T) {
	testenv.Fauxqs(t)
	c := sqstest.Client(t)
	url := sqstest.Queue(t, c, "purchases", map[string]string{"VisibilityTimeout": "1"})
	if _, err := sqsloop.NewPublisher(c, url).Publish(context.Background(), []string{"poison"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	handler := func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: ev.Records[0].MessageId}}}, nil
	}
	st, err := sqsloop.NewPoller(c, url, handler, sqsloop.WithWaitTime(time.Second)).Drain(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain = %+v, %v; want context.DeadlineExceeded", st, err)
	}
	if st.Messages < 2 || st.Deleted != 0 || st.Failed != st.Messages {
		t.Errorf("stats = %+v, want the message received again and again, never deleted", st)
	}
}
