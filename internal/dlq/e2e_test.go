package dlq_test

// This file is the only one of the package that drives the aggregator and the
// DynamoDB store, so that changes to their API touch it alone.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/dlq"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/simulate"
	"github.com/acmecheckout/reports/internal/sqs/sqstest"
	"github.com/acmecheckout/reports/internal/sqsloop"
	"github.com/acmecheckout/reports/internal/testenv"
)

// TestRedriveNeverDoubleCounts is the path issue 12 closes: a batch the
// aggregator applied to DynamoDB whose acknowledgement was lost (the messages
// were never deleted) reaches the DLQ through the queue's redrive policy;
// dlq redrive sends it back, and the aggregator in exactly-once mode,
// identifying each message by its idempotencyKey attribute (SPEC §4), counts
// nothing twice. Half the purchases carry a producer's key, half none (their
// identity is then the message id, which the redrive policy keeps).
func TestRedriveNeverDoubleCounts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	testenv.DynamoDBLocal(t)
	testenv.Fauxqs(t)
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ddb := dynamodb.NewFromConfig(cfg)
	table, idem := testenv.Tables(t, ddb, true)
	h := aggregator.New(dynamo.New(ddb, table, dynamo.WithIdempotencyTable(idem)), aggregator.WithLogger(slog.New(slog.DiscardHandler)))

	c := awssqs.NewFromConfig(cfg)
	dlqURL := sqstest.Queue(t, c, "purchases-dlq", nil)
	policy, _ := json.Marshal(map[string]any{"deadLetterTargetArn": sqstest.QueueARN(t, c, dlqURL), "maxReceiveCount": 1})
	queueURL := sqstest.Queue(t, c, "purchases", map[string]string{"VisibilityTimeout": "1", "RedrivePolicy": string(policy)})

	// 40 purchases: 20 with an orderId sent as their key, 20 without.
	msgs, err := simulate.Generate(simulate.Config{Seed: 12, Count: 40, Merchants: 6})
	if err != nil {
		t.Fatal(err)
	}
	want := purchase.Increments{}
	var keyed, plain bytes.Buffer
	for i, m := range msgs {
		e, err := purchase.Parse(m.Body)
		if err != nil {
			t.Fatalf("simulated purchase %d invalid: %v", i, err)
		}
		want.Add(e)
		if i%2 == 0 {
			fmt.Fprintf(&keyed, "{\"orderId\":\"order-%d\",%s\n", i, bytes.TrimPrefix(m.Body, []byte("{")))
		} else {
			fmt.Fprintf(&plain, "%s\n", m.Body)
		}
	}
	if _, err := sqsloop.NewPublisher(c, queueURL, sqsloop.WithKeyField("orderId")).PublishLines(ctx, &keyed); err != nil {
		t.Fatal(err)
	}
	if _, err := sqsloop.NewPublisher(c, queueURL).PublishLines(ctx, &plain); err != nil {
		t.Fatal(err)
	}

	// The aggregator applies every batch, and the acknowledgements are
	// lost: nothing is deleted.
	arn := sqstest.QueueARN(t, c, queueURL)
	handled := 0
	for handled < len(msgs) {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 30,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			t.Fatalf("queue ran dry after %d of %d messages", handled, len(msgs))
		}
		ev := events.SQSEvent{}
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, sqsloop.LambdaMessage(m, arn, testenv.Region))
		}
		resp, err := h.Handle(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("handle = %+v, %v", resp, err)
		}
		handled += len(ev.Records)
		// Lost acknowledgement: the messages come back after 1s, not 30s.
		var vis []types.ChangeMessageVisibilityBatchRequestEntry
		for i, m := range out.Messages {
			vis = append(vis, types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 1})
		}
		if _, err := c.ChangeMessageVisibilityBatch(ctx, &awssqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(queueURL), Entries: vis}); err != nil {
			t.Fatal(err)
		}
	}
	assertCounts(t, ddb, table, want, "after the first delivery")

	// The next receive finds each message over maxReceiveCount: the redrive
	// policy moves it to the DLQ.
	time.Sleep(1100 * time.Millisecond)
	for {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) != 0 {
			t.Fatalf("received %d messages the redrive policy should have moved", len(out.Messages))
		}
		if v, inFlight := mustCounts(t, c, queueURL); v+inFlight == 0 {
			break
		}
	}
	if v, _ := mustCounts(t, c, dlqURL); v != len(msgs) {
		t.Fatalf("DLQ holds %d messages, want all %d", v, len(msgs))
	}

	sum, err := dlq.New(c).Redrive(ctx, dlqURL, queueURL, dlq.Select{Reason: regexp.MustCompile("^$")}, false)
	if err != nil || sum.Sent != len(msgs) || sum.Deleted != len(msgs) {
		t.Fatalf("redrive = %+v, %v", sum, err)
	}

	st, err := sqsloop.NewPoller(c, queueURL, h.Handle, sqsloop.WithWaitTime(time.Second)).Drain(ctx)
	if err != nil || st.Deleted != len(msgs) || st.Failed != 0 {
		t.Fatalf("second delivery: %+v, %v", st, err)
	}
	assertCounts(t, ddb, table, want, "after dlq redrive and a second delivery")
	if v, inFlight := mustCounts(t, c, dlqURL); v+inFlight != 0 {
		t.Errorf("DLQ holds %d visible, %d in flight after the redrive", v, inFlight)
	}
}

// assertCounts checks that the table holds exactly want.
func assertCounts(t *testing.T, ddb *dynamodb.Client, table string, want purchase.Increments, when string) {
	t.Helper()
	got := map[string]int64{}
	for _, c := range testenv.ScanCounts(t, ddb, table) {
		got[c.Datapoint] = c.Events
	}
	var wrong []string
	for dp, n := range want {
		if got[dp.Key] != n {
			wrong = append(wrong, fmt.Sprintf("%s = %d, want %d", dp.Key, got[dp.Key], n))
		}
		delete(got, dp.Key)
	}
	for k, n := range got {
		wrong = append(wrong, fmt.Sprintf("%s = %d, want none", k, n))
	}
	if len(wrong) > 0 {
		t.Errorf("%s, %d datapoints are wrong:\n%s", when, len(wrong), strings.Join(wrong[:min(len(wrong), 10)], "\n"))
	}
}
