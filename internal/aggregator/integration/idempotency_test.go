package integration_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/golden"
	"github.com/acmecheckout/reports/internal/sqs"
	"github.com/acmecheckout/reports/internal/testenv"
)

// keyed returns m with its idempotencyKey attribute set to key, under a new
// message id (a producer's retry is a new message).
func keyed(m events.SQSMessage, id, key string) events.SQSMessage {
	m.MessageId = id
	m.MessageAttributes = map[string]events.SQSMessageAttribute{
		aggregator.AttrIdempotencyKey: {DataType: "String", StringValue: aws.String(key)},
	}
	return m
}

// TestProducerRetries: on DynamoDB Local in exactly-once mode, a producer
// that sends a purchase again under the same key, in the same batch or a
// later one, has it counted once; every message is acknowledged; a message
// redriven with its first message id as key is not counted again; and the
// write units DynamoDB reports are in the summary.
func TestProducerRetries(t *testing.T) {
	testenv.DynamoDBLocal(t)
	ddb := dynamodb.NewFromConfig(mustAWS(t))
	table, idem := testenv.Tables(t, ddb, true)
	h := aggregator.New(dynamo.New(ddb, table, dynamo.WithIdempotencyTable(idem), fastRetry()),
		aggregator.WithLogger(slog.New(slog.DiscardHandler)))
	purchases := generate(t, 12, 12)[0].Records // 12 distinct purchases

	var batches []events.SQSEvent
	batch := func(msgs ...events.SQSMessage) events.SQSEvent {
		ev := events.SQSEvent{Records: msgs}
		batches = append(batches, ev)
		return ev
	}
	testCases := []struct {
		name string
		ev   events.SQSEvent
		want aggregator.Summary // figures but datapoints, transactions, write units, retries
	}{
		{
			name: "three tries of one purchase in a batch",
			ev: batch(keyed(purchases[0], "a1", "order-0"), keyed(purchases[0], "a2", "order-0"),
				keyed(purchases[1], "a3", "order-1"), keyed(purchases[0], "a4", "order-0"), purchases[2]),
			want: aggregator.Summary{Messages: 5, Valid: 5, Counted: 3, Duplicates: 2},
		},
		{
			name: "retries in a later batch",
			ev:   batch(keyed(purchases[1], "b1", "order-1"), keyed(purchases[0], "b2", "order-0"), keyed(purchases[3], "b3", "order-3")),
			want: aggregator.Summary{Messages: 3, Valid: 3, Counted: 1, Duplicates: 2},
		},
		{
			name: "a message redriven with its message id as key",
			ev:   batch(keyed(purchases[2], "c1", purchases[2].MessageId)),
			want: aggregator.Summary{Messages: 1, Valid: 1, Duplicates: 1},
		},
		{
			name: "malformed keys are invalid and reported",
			ev:   batch(keyed(purchases[4], "d1", ""), keyed(purchases[5], "d2", "new\nline"), keyed(purchases[6], "d3", "order-6")),
			want: aggregator.Summary{Messages: 3, Valid: 1, Invalid: 2, Counted: 1},
		},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			res := h.Process(context.Background(), tc.ev.Records)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			var wantFailures []string
			for _, p := range res.InvalidEvents {
				wantFailures = append(wantFailures, p.MessageID)
			}
			if !slices.Equal(res.ItemFailures, wantFailures) {
				t.Errorf("batch item failures %v, want exactly the invalid messages %v", res.ItemFailures, wantFailures)
			}
			got := res.Summary
			if got.Counted > 0 && got.WriteUnits <= 0 {
				t.Errorf("WriteUnits = %v after counting %d purchases", got.WriteUnits, got.Counted)
			}
			got.Datapoints, got.Transactions, got.WriteUnits, got.RequestRetries, got.ConflictRetries, got.DurationMS = 0, 0, 0, 0, 0, 0
			if got != tc.want {
				t.Errorf("summary\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	golden.JSONEqual(t, "counts", mustMarshal(t, testenv.ScanCounts(t, ddb, table)), mustMarshal(t, truth(t, batches...)))
	if got := len(truth(t, batches...)); got == 0 {
		t.Fatal("nothing counted")
	}
}

// TestDeadLetterAttributes: on fauxqs, a dead-lettered event carries its
// reason, its message id and the identity it would be counted under.
func TestDeadLetterAttributes(t *testing.T) {
	testenv.Fauxqs(t)
	testenv.DynamoDBLocal(t)
	cfg := mustAWS(t)
	ddb, sqsClient := dynamodb.NewFromConfig(cfg), awssqs.NewFromConfig(cfg)
	table, idem := testenv.Tables(t, ddb, true)
	dlqURL := mustQueue(t, sqsClient, "dlq")
	h := aggregator.New(dynamo.New(ddb, table, dynamo.WithIdempotencyTable(idem), fastRetry()),
		aggregator.WithDeadLetter(sqs.NewDeadLetter(sqsClient, dlqURL)), aggregator.WithLogger(slog.New(slog.DiscardHandler)))

	bad := mustEvent(t, "mixed-batch.json").Records[1] // not JSON
	msgs := []events.SQSMessage{keyed(bad, "with-key", "order-77"), keyed(bad, "bad-key", ""), bad}
	res := h.Process(context.Background(), msgs)
	if res.Err != nil || len(res.ItemFailures) != 0 || res.DeadLettered != 3 {
		t.Fatalf("result %+v, want all three dead-lettered", res)
	}
	got := map[string][2]string{}
	for _, m := range receiveAll(t, sqsClient, dlqURL) {
		a := m.MessageAttributes
		got[aws.ToString(a[sqs.AttrSourceMessageID].StringValue)] = [2]string{
			aws.ToString(a[sqs.AttrIdempotencyKey].StringValue), aws.ToString(a[sqs.AttrError].StringValue),
		}
	}
	want := map[string][2]string{
		"with-key":    {"order-77", "not valid JSON"},
		"bad-key":     {"bad-key", "message attribute idempotencyKey: empty: want 1 to 128 printable ASCII characters"},
		bad.MessageId: {bad.MessageId, "not valid JSON"},
	}
	if len(got) != len(want) {
		t.Fatalf("DLQ messages %v, want %v", got, want)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("DLQ message of %s: idempotencyKey, error = %q; want %q", id, got[id], w)
		}
	}
}
