package sqs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/simulate"
	"github.com/acmecheckout/reports/internal/sqs"
	"github.com/acmecheckout/reports/internal/testenv"
)

// TestRedriveToDeadLetterQueue runs the local loop end to end: a JSON-lines
// file mixing valid and poison purchase events is published to a queue whose
// redrive policy moves a message to the DLQ after two receives; the poller
// feeds the real aggregator (no DLQ_URL, so invalid events come back as batch
// item failures) counting into the real store on DynamoDB Local until the queue is
// empty. The DLQ must then hold exactly the poison messages, and every
// datapoint must hold exactly its count.
func TestRedriveToDeadLetterQueue(t *testing.T) {
	tests := []struct {
		name        string
		exactlyOnce bool
	}{
		{"plain counting", false},
		{"exactly-once counting", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			testenv.DynamoDBLocal(t)
			testenv.Fauxqs(t)
			cfg, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ddb := dynamodb.NewFromConfig(cfg)
			table, idem := testenv.Tables(t, ddb, tc.exactlyOnce)
			var opts []dynamo.Option
			if idem != "" {
				opts = append(opts, dynamo.WithIdempotencyTable(idem))
			}
			store := dynamo.New(ddb, table, opts...)

			c := awssqs.NewFromConfig(cfg)
			dlqURL := loopQueue(t, c, "purchases-dlq", nil)
			dlqARN := mustQueueARN(t, c, dlqURL)
			policy, _ := json.Marshal(map[string]any{"deadLetterTargetArn": dlqARN, "maxReceiveCount": 2})
			url := loopQueue(t, c, "purchases", map[string]string{
				"VisibilityTimeout": "1",
				"RedrivePolicy":     string(policy),
			})

			msgs, err := simulate.Generate(simulate.Config{Seed: 11, Count: 120, Invalid: 7, Merchants: 15})
			if err != nil {
				t.Fatal(err)
			}
			var file bytes.Buffer
			if err := simulate.WriteJSONLines(&file, msgs); err != nil {
				t.Fatal(err)
			}
			want := purchase.Increments{}
			var poison []string
			for _, m := range msgs {
				e, err := purchase.Parse(m.Body)
				if err != nil {
					poison = append(poison, string(m.Body))
					continue
				}
				want.Add(e)
			}
			slices.Sort(poison)

			res, err := sqs.NewPublisher(c, url).PublishLines(ctx, &file)
			if err != nil || res.Sent != len(msgs) {
				t.Fatalf("publish: sent %d of %d: %v", res.Sent, len(msgs), err)
			}

			h := aggregator.New(store, aggregator.WithLogger(slog.New(slog.DiscardHandler)))
			st, err := sqs.NewPoller(c, url, h.Handle, sqs.WithWaitTime(time.Second)).Drain(ctx)
			if err != nil {
				t.Fatalf("drain (stats %+v): %v", st, err)
			}
			t.Logf("poller: %+v", st)
			if valid := len(msgs) - len(poison); st.Deleted != valid {
				t.Errorf("deleted %d messages, want the %d valid ones", st.Deleted, valid)
			}
			if st.Failed != 2*len(poison) {
				t.Errorf("%d failed deliveries, want each of %d poison messages twice", st.Failed, len(poison))
			}

			if got := loopReceiveAll(t, c, dlqURL); !slices.Equal(got, poison) {
				t.Errorf("DLQ holds %d messages %q,\nwant the %d poison ones %q", len(got), got, len(poison), poison)
			}
			for dp, n := range want {
				got, err := store.Get(ctx, dp.Key)
				if err != nil {
					t.Fatalf("get %s: %v", dp.Key, err)
				}
				if got.Events != n {
					t.Errorf("%s = %d events, want %d", dp.Key, got.Events, n)
				}
			}
			// No datapoint beyond those expected.
			out, err := ddb.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), Select: "COUNT"})
			if err != nil || out.LastEvaluatedKey != nil {
				t.Fatalf("scan datapoints: %v", err)
			}
			if int(out.Count) != len(want) {
				t.Errorf("table holds %d datapoints, want %d", out.Count, len(want))
			}
		})
	}
}

func mustQueueARN(t *testing.T, c *awssqs.Client, url string) string {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("queue arn: %v", err)
	}
	return out.Attributes["QueueArn"]
}
