package sqs_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/sqs"
	"github.com/acmecheckout/reports/internal/sqs/sqstest"
	"github.com/acmecheckout/reports/internal/testenv"
)

// deadLettered is what a test reads back from the dead-letter queue.
type deadLettered struct {
	SourceID, Reason, Body, Group string
}

// TestDeadLetter sends rejected messages to a real queue on fauxqs and reads
// them back.
func TestDeadLetter(t *testing.T) {
	testenv.Fauxqs(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := awssqs.NewFromConfig(cfg)

	msgs := func(n, bodySize int) []purchase.Rejection {
		var out []purchase.Rejection
		for i := 0; i < n; i++ {
			body := fmt.Sprintf(`{"n":%d}`, i)
			if bodySize > 0 {
				body += strings.Repeat("x", bodySize)
			}
			out = append(out, purchase.Rejection{MessageID: fmt.Sprintf("m-%02d", i), Body: body, Reason: fmt.Sprintf("reason %d", i)})
		}
		return out
	}
	testCases := []struct {
		name       string
		queue      string // "" for a queue that does not exist
		fifo       bool
		msgs       []purchase.Rejection
		wantFailed []string // message ids not sent
	}{
		{name: "25 messages in three calls", queue: "dlq", msgs: msgs(25, 0)},
		{name: "large bodies split by the 1 MiB batch limit", queue: "dlq", msgs: msgs(5, 400<<10)},
		{
			name: "an entry SQS rejects fails alone", queue: "dlq",
			msgs:       append(msgs(3, 0), purchase.Rejection{MessageID: "bad", Body: "\u0001", Reason: "not JSON"}),
			wantFailed: []string{"bad"},
		},
		{name: "a missing queue fails every message", queue: "", msgs: msgs(12, 0), wantFailed: ids(msgs(12, 0))},
		{
			name: "FIFO keeps the group and deduplicates on the source id", queue: "dlq.fifo", fifo: true,
			msgs: append(msgs(3, 0), purchase.Rejection{MessageID: "m-00", Body: `{"n":0}`, Reason: "reason 0", Group: "g"}),
		},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			url := mustDeadLetterQueue(t, c, tc.queue, tc.fifo)
			failed := sqs.NewDeadLetter(c, url).Send(context.Background(), tc.msgs)

			var gotFailed []string
			for id, err := range failed {
				gotFailed = append(gotFailed, id)
				if err == nil || !strings.Contains(err.Error(), "dead-letter") {
					t.Errorf("failure of %s lacks context: %v", id, err)
				}
			}
			slices.Sort(gotFailed)
			if !slices.Equal(gotFailed, tc.wantFailed) {
				t.Errorf("failed %v, want %v", gotFailed, tc.wantFailed)
			}
			if tc.queue == "" {
				return
			}
			want := map[string]deadLettered{}
			for _, m := range tc.msgs {
				if _, ok := failed[m.MessageID]; ok {
					continue
				}
				if _, ok := want[m.MessageID]; ok {
					continue // a FIFO queue keeps the first of two sends
				}
				d := deadLettered{SourceID: m.MessageID, Reason: m.Reason, Body: m.Body}
				if tc.fifo {
					d.Group = m.Group
					if d.Group == "" {
						d.Group = "invalid"
					}
				}
				want[m.MessageID] = d
			}
			got := map[string]deadLettered{}
			for _, m := range sqstest.ReceiveAllMessages(t, c, url) {
				d := deadLettered{
					SourceID: aws.ToString(m.MessageAttributes[sqs.AttrSourceMessageID].StringValue),
					Reason:   aws.ToString(m.MessageAttributes[sqs.AttrError].StringValue),
					Body:     aws.ToString(m.Body),
					Group:    m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)],
				}
				if _, dup := got[d.SourceID]; dup {
					t.Errorf("%s dead-lettered twice", d.SourceID)
				}
				got[d.SourceID] = d
			}
			if len(got) != len(want) {
				t.Errorf("%d messages on the queue, want %d", len(got), len(want))
			}
			for id, w := range want {
				if got[id] != w {
					t.Errorf("%s: got %+.80v, want %+.80v", id, got[id], w)
				}
			}
		})
	}
}

func ids(msgs []purchase.Rejection) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.MessageID)
	}
	slices.Sort(out)
	return out
}

// mustDeadLetterQueue creates a queue named name (with a unique prefix) and
// returns its URL, or the URL a queue would have when name is "".
func mustDeadLetterQueue(t *testing.T, c *awssqs.Client, name string, fifo bool) string {
	t.Helper()
	unique := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	unique = unique[strings.LastIndex(unique, "-")+1:]
	if name == "" {
		out, err := c.CreateQueue(context.Background(), &awssqs.CreateQueueInput{QueueName: aws.String("exists-" + unique)})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Replace(aws.ToString(out.QueueUrl), "exists-", "missing-", 1)
	}
	in := &awssqs.CreateQueueInput{QueueName: aws.String(unique + "-" + name)}
	if fifo {
		in.Attributes = map[string]string{"FifoQueue": "true"}
	}
	out, err := c.CreateQueue(context.Background(), in)
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	return aws.ToString(out.QueueUrl)
}

// TestDeadLetterResends: entries SQS fails through no fault of theirs are
// sent again; one that keeps failing is reported, and the rest arrive once.
func TestDeadLetterResends(t *testing.T) {
	sqsURL := testenv.Fauxqs(t)
	direct := sqstest.Client(t)
	url := sqstest.Queue(t, direct, "dlq", nil)
	sqstest.WithFaults(t, sqsURL, func(id string, seen int) bool {
		return id == "0" && seen == 1 || id == "2" // entry 0 fails once, entry 2 always
	})
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var msgs []purchase.Rejection
	for i := range 4 {
		msgs = append(msgs, purchase.Rejection{MessageID: fmt.Sprintf("m-%d", i), Body: fmt.Sprintf(`{"n":%d}`, i), Reason: "bad"})
	}
	failed := sqs.NewDeadLetter(awssqs.NewFromConfig(cfg), url).Send(context.Background(), msgs)
	if len(failed) != 1 || failed["m-2"] == nil {
		t.Fatalf("failed %v, want only m-2", failed)
	}
	if got, want := sqstest.ReceiveAll(t, direct, url), []string{`{"n":0}`, `{"n":1}`, `{"n":3}`}; !slices.Equal(got, want) {
		t.Errorf("dead-letter queue holds %q, want %q", got, want)
	}
}
