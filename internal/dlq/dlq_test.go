package dlq_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/dlq"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/sqs"
	"github.com/acmecheckout/reports/internal/sqs/sqstest"
	"github.com/acmecheckout/reports/internal/testenv"
)

// fixture is a dead-letter queue on fauxqs holding one message of each kind
// the tool meets, and an empty purchase queue to send them back to.
type fixture struct {
	endpoint   string // fauxqs
	c          *awssqs.Client
	dlq, queue string
	// ids maps each message's own id to the identity it must keep.
	ids map[string]string
}

// Bodies of the fixture's messages.
const (
	bodyKeyed      = `{"orderId":"order-7","amount":"ten"}`
	bodySourceOnly = `{"legacy":true}`
	bodyPolicy     = `{"poison":1}`
	bodyCustom     = `{"custom":1}`
)

func newFixture(t *testing.T) fixture {
	t.Helper()
	endpoint := testenv.Fauxqs(t)
	c := sqstest.Client(t)
	f := fixture{endpoint: endpoint, c: c, dlq: sqstest.Queue(t, c, "purchases-dlq", nil), queue: sqstest.Queue(t, c, "purchases", nil), ids: map[string]string{}}
	ctx := context.Background()
	// The aggregator dead-letters an invalid event: error, sourceMessageId, idempotencyKey.
	if failed := sqs.NewDeadLetter(c, f.dlq).Send(ctx, []purchase.Rejection{
		{MessageID: "src-1", Identity: "order-7", Body: bodyKeyed, Reason: "amount: not a number"},
	}); failed != nil {
		t.Fatal(failed)
	}
	send := func(body string, attrs map[string]types.MessageAttributeValue) string {
		out, err := c.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: aws.String(f.dlq), MessageBody: aws.String(body), MessageAttributes: attrs})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.MessageId)
	}
	// An older dead-letter without idempotencyKey.
	f.ids[send(bodySourceOnly, map[string]types.MessageAttributeValue{
		sqs.AttrError: sqs.StringAttribute("date: missing"), sqs.AttrSourceMessageID: sqs.StringAttribute("src-2"),
	})] = "src-2"
	// What a redrive policy moved: no attributes, its own id.
	id := send(bodyPolicy, nil)
	f.ids[id] = id
	// A producer's own attribute survives; its key is the identity.
	f.ids[send(bodyCustom, map[string]types.MessageAttributeValue{
		"source": sqs.StringAttribute("checkout"), sqs.AttrIdempotencyKey: sqs.StringAttribute("order-9"),
	})] = "order-9"
	for _, m := range mustList(t, f.c, f.dlq, dlq.Select{}) {
		if m.Body == bodyKeyed {
			f.ids[m.ID] = "order-7"
		}
	}
	if len(f.ids) != 4 {
		t.Fatalf("fixture has %d messages, want 4", len(f.ids))
	}
	return f
}

func mustList(t *testing.T, c *awssqs.Client, url string, sel dlq.Select) []dlq.Message {
	t.Helper()
	msgs, _, err := dlq.New(c).List(context.Background(), url, sel)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return msgs
}

// mustCounts returns a queue's visible and in-flight message counts.
func mustCounts(t *testing.T, c *awssqs.Client, url string) (visible, inFlight int) {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	inFlight, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return visible, inFlight
}

func TestList(t *testing.T) {
	f := newFixture(t)
	msgs := mustList(t, f.c, f.dlq, dlq.Select{})
	if len(msgs) != 4 {
		t.Fatalf("listed %d messages, want 4", len(msgs))
	}
	for _, m := range msgs {
		if m.Identity != f.ids[m.ID] {
			t.Errorf("%s (%s) has identity %q, want %q", m.ID, m.Body, m.Identity, f.ids[m.ID])
		}
		if m.ReceiveCount < 1 || m.SentAt.IsZero() || m.Age(time.Now()) < 0 || m.Age(time.Now()) > time.Minute {
			t.Errorf("%s: receive count %d, sent at %v", m.ID, m.ReceiveCount, m.SentAt)
		}
		wantMoved := m.Body == bodyPolicy || m.Body == bodyCustom
		if m.MovedByRedrivePolicy() != wantMoved {
			t.Errorf("%s: MovedByRedrivePolicy = %t, want %t", m.Body, m.MovedByRedrivePolicy(), wantMoved)
		}
	}
	if v, inFlight := mustCounts(t, f.c, f.dlq); v != 4 || inFlight != 0 {
		t.Errorf("after listing the DLQ holds %d visible, %d in flight; want all 4 visible", v, inFlight)
	}

	// Filters: by reason, the redrive policy's (no reason), and a limit.
	if got := mustList(t, f.c, f.dlq, dlq.Select{Reason: regexp.MustCompile("^amount")}); len(got) != 1 || got[0].Body != bodyKeyed {
		t.Errorf("--reason ^amount listed %+v", got)
	}
	if got := mustList(t, f.c, f.dlq, dlq.Select{Reason: regexp.MustCompile("^$")}); len(got) != 2 {
		t.Errorf("--reason ^$ listed %d messages, want the 2 without a reason", len(got))
	}
	if got := mustList(t, f.c, f.dlq, dlq.Select{Limit: 3}); len(got) != 3 {
		t.Errorf("limit 3 listed %d", len(got))
	}

	// The bound: two read, the queue left whole.
	got, st, err := dlq.New(f.c, dlq.WithMaxMessages(2)).List(context.Background(), f.dlq, dlq.Select{})
	if err != nil || len(got) != 2 || st != (dlq.ReadStats{Read: 2, Truncated: true}) {
		t.Errorf("bounded list = %d messages, %+v, %v", len(got), st, err)
	}
	if v, inFlight := mustCounts(t, f.c, f.dlq); v != 4 || inFlight != 0 {
		t.Errorf("after a bounded list the DLQ holds %d visible, %d in flight; want all 4 visible", v, inFlight)
	}
}

func TestWriteList(t *testing.T) {
	f := newFixture(t)
	msgs := mustList(t, f.c, f.dlq, dlq.Select{})
	now := time.Now()
	for _, tc := range []struct {
		format string
		want   []string
	}{
		{dlq.FormatTable, []string{"AGE  ", "RECEIVES", "order-7", "amount: not a number", dlq.NoReason, bodyCustom}},
		{dlq.FormatJSON, []string{`"identity":"order-9"`, `"movedByRedrivePolicy":true`, `"reason":"date: missing"`}},
		{dlq.FormatCSV, []string{"id,identity,reason,moved_by_redrive_policy", ",src-2,date: missing,false,"}},
	} {
		var out bytes.Buffer
		if err := dlq.WriteList(&out, tc.format, msgs, now); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s output lacks %q:\n%s", tc.format, w, out.String())
			}
		}
		if lines := strings.Count(out.String(), "\n"); lines < 4 {
			t.Errorf("%s output has %d lines", tc.format, lines)
		}
	}
	long := dlq.Message{ID: "x", Body: strings.Repeat("é", 200)}
	if e := dlq.Entry(long, now); e.BodyPreview != strings.Repeat("é", 80)+"…" {
		t.Errorf("preview = %q", e.BodyPreview)
	}
	var out bytes.Buffer
	if err := dlq.WriteExport(&out, msgs); err != nil || strings.Count(out.String(), "\n") != 4 || !strings.Contains(out.String(), `"attributes":{"idempotencyKey":"order-9","source":"checkout"},"body":"{\"custom\":1}"`) {
		t.Errorf("export = %v\n%s", err, out.String())
	}
}

// TestRedrive sends every kind of message back under its identity and
// empties the DLQ.
func TestRedrive(t *testing.T) {
	f := newFixture(t)
	var progress bytes.Buffer
	sum, err := dlq.New(f.c, dlq.WithProgress(&progress)).Redrive(context.Background(), f.dlq, f.queue, dlq.Select{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := (dlq.RedriveSummary{Read: 4, Matched: 4, Sent: 4, Deleted: 4}); sum != want {
		t.Errorf("summary = %+v, want %+v", sum, want)
	}
	if !strings.Contains(progress.String(), "dlq redrive: read 4, matched 4, sent 4, deleted 4, failed 0, skipped 0") {
		t.Errorf("progress:\n%s", progress.String())
	}
	if v, inFlight := mustCounts(t, f.c, f.dlq); v+inFlight != 0 {
		t.Errorf("DLQ still holds %d visible, %d in flight", v, inFlight)
	}
	want := map[string]bool{}
	for _, id := range f.ids {
		want[id] = true
	}
	for _, m := range sqstest.ReceiveAllMessages(t, f.c, f.queue) {
		key := aws.ToString(m.MessageAttributes[sqs.AttrIdempotencyKey].StringValue)
		if !want[key] {
			t.Errorf("message %s came back with key %q, want one of %v", aws.ToString(m.Body), key, want)
		}
		delete(want, key)
		for _, a := range []string{sqs.AttrError, sqs.AttrSourceMessageID} {
			if _, ok := m.MessageAttributes[a]; ok {
				t.Errorf("message %s came back with the dead-letter attribute %s", aws.ToString(m.Body), a)
			}
		}
		if aws.ToString(m.Body) == bodyCustom && aws.ToString(m.MessageAttributes["source"].StringValue) != "checkout" {
			t.Errorf("the producer's attribute was lost: %+v", m.MessageAttributes)
		}
	}
	if len(want) != 0 {
		t.Errorf("identities not on the queue: %v", want)
	}
}

func TestRedriveSelectsAndDryRuns(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tool := dlq.New(f.c)

	sum, err := tool.Redrive(ctx, f.dlq, f.queue, dlq.Select{}, true)
	if err != nil || sum != (dlq.RedriveSummary{Read: 4, Matched: 4, Skipped: 4, DryRun: true}) {
		t.Errorf("dry run = %+v, %v", sum, err)
	}
	if v, inFlight := mustCounts(t, f.c, f.dlq); v != 4 || inFlight != 0 {
		t.Errorf("after a dry run the DLQ holds %d visible, %d in flight", v, inFlight)
	}

	sum, err = tool.Redrive(ctx, f.dlq, f.queue, dlq.Select{Reason: regexp.MustCompile("^$"), Limit: 1}, false)
	if err != nil || sum.Matched != 1 || sum.Sent != 1 || sum.Deleted != 1 {
		t.Errorf("redrive of one without a reason = %+v, %v", sum, err)
	}
	got := sqstest.ReceiveAll(t, f.c, f.queue)
	if len(got) != 1 || (got[0] != bodyPolicy && got[0] != bodyCustom) {
		t.Errorf("queue holds %q, want one of the messages without a reason", got)
	}
	if v, inFlight := mustCounts(t, f.c, f.dlq); v != 3 || inFlight != 0 {
		t.Errorf("DLQ holds %d visible, %d in flight; want the other 3 visible", v, inFlight)
	}
}

// TestRedriveSendFailure: a message SQS keeps failing stays on the DLQ; the
// others move.
func TestRedriveSendFailure(t *testing.T) {
	f := newFixture(t)
	sqstest.WithFaults(t, f.endpoint, func(id string, _ int) bool { return id == "1" })
	var progress bytes.Buffer
	tool := dlq.New(sqstest.Client(t), dlq.WithProgress(&progress))
	sum, err := tool.Redrive(context.Background(), f.dlq, f.queue, dlq.Select{}, false)
	if !errors.Is(err, dlq.ErrNotAllRedriven) {
		t.Fatalf("err = %v, want ErrNotAllRedriven", err)
	}
	if want := (dlq.RedriveSummary{Read: 4, Matched: 4, Sent: 3, Deleted: 3, Failed: 1}); sum != want {
		t.Errorf("summary = %+v, want %+v", sum, want)
	}
	if !strings.Contains(progress.String(), "not sent, left on the DLQ: InternalError") {
		t.Errorf("progress:\n%s", progress.String())
	}
	if v, inFlight := mustCounts(t, f.c, f.dlq); v != 1 || inFlight != 0 {
		t.Errorf("DLQ holds %d visible, %d in flight; want the failed one visible", v, inFlight)
	}
	if got := sqstest.ReceiveAll(t, f.c, f.queue); len(got) != 3 {
		t.Errorf("queue holds %q, want 3", got)
	}
}

func TestRedriveSkipsBadIdentity(t *testing.T) {
	testenv.Fauxqs(t)
	c := sqstest.Client(t)
	dlqURL, queue := sqstest.Queue(t, c, "d", nil), sqstest.Queue(t, c, "q", nil)
	if _, err := c.SendMessage(context.Background(), &awssqs.SendMessageInput{QueueUrl: aws.String(dlqURL), MessageBody: aws.String("{}"),
		MessageAttributes: map[string]types.MessageAttributeValue{sqs.AttrIdempotencyKey: sqs.StringAttribute(strings.Repeat("k", 129))}}); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	sum, err := dlq.New(c, dlq.WithProgress(&progress)).Redrive(context.Background(), dlqURL, queue, dlq.Select{}, false)
	if err != nil || sum != (dlq.RedriveSummary{Read: 1, Matched: 1, Skipped: 1}) {
		t.Errorf("redrive = %+v, %v", sum, err)
	}
	if !strings.Contains(progress.String(), "cannot be an idempotency key") {
		t.Errorf("progress:\n%s", progress.String())
	}
	if v, _ := mustCounts(t, c, dlqURL); v != 1 {
		t.Errorf("DLQ holds %d visible, want the skipped one", v)
	}
}

func TestPurge(t *testing.T) {
	testenv.Fauxqs(t)
	c := sqstest.Client(t)
	dlqURL := sqstest.Queue(t, c, "d", nil)
	send := func(body string) {
		if _, err := c.SendMessage(context.Background(), &awssqs.SendMessageInput{QueueUrl: aws.String(dlqURL), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	send("old-1")
	send("old-2")
	time.Sleep(1500 * time.Millisecond)
	send("new")
	sum, err := dlq.New(c).Purge(context.Background(), dlqURL, time.Second)
	if err != nil || sum != (dlq.PurgeSummary{Read: 3, Matched: 2, Deleted: 2}) {
		t.Errorf("purge = %+v, %v", sum, err)
	}
	if got := sqstest.ReceiveAll(t, c, dlqURL); !slices.Equal(got, []string{"new"}) {
		t.Errorf("DLQ holds %q, want only the new message", got)
	}
}

func TestBadQueues(t *testing.T) {
	testenv.Fauxqs(t)
	c := sqstest.Client(t)
	existing := sqstest.Queue(t, c, "d", nil)
	missing := strings.Replace(existing, "/d", "/nope", 1)
	ctx := context.Background()
	tool := dlq.New(c)

	for _, bad := range []string{"", "purchases-dlq", "sqs.amazonaws.com/1/q", "https://sqs.us-east-1.amazonaws.com/q", "ftp://h/1/q", "https://h/1/q/x"} {
		if err := dlq.CheckQueueURL(bad); !errors.Is(err, dlq.ErrBadQueueURL) {
			t.Errorf("CheckQueueURL(%q) = %v, want ErrBadQueueURL", bad, err)
		}
	}
	if err := dlq.CheckQueueURL("https://sqs.us-east-1.amazonaws.com/123456789012/purchases-dlq"); err != nil {
		t.Errorf("a real queue URL: %v", err)
	}
	if _, _, err := tool.List(ctx, missing, dlq.Select{}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("list of a missing queue: %v", err)
	}
	if _, err := tool.Redrive(ctx, existing, missing, dlq.Select{}, false); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("redrive to a missing queue: %v", err)
	}
	if _, err := tool.Redrive(ctx, existing, existing, dlq.Select{}, false); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("redrive to itself: %v", err)
	}
	if _, err := tool.Purge(ctx, existing, 0); err == nil {
		t.Error("purge with no age succeeded")
	}

	// An empty DLQ: nothing listed, a zero summary.
	if msgs, st, err := tool.List(ctx, existing, dlq.Select{}); err != nil || len(msgs) != 0 || st.Read != 0 {
		t.Errorf("list of an empty queue = %v, %+v, %v", msgs, st, err)
	}
	queue := sqstest.Queue(t, c, "q", nil)
	if sum, err := tool.Redrive(ctx, existing, queue, dlq.Select{}, false); err != nil || sum != (dlq.RedriveSummary{}) {
		t.Errorf("redrive of an empty queue = %+v, %v", sum, err)
	}

	// SQS unreachable.
	t.Setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:1")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	if _, _, err := dlq.New(sqstest.Client(t)).List(ctx, existing, dlq.Select{}); err == nil || !strings.Contains(err.Error(), "reach queue") {
		t.Errorf("list with SQS unreachable: %v", err)
	}
}

// TestRedriveFIFO: on FIFO queues a message goes back in its group,
// deduplicated on its identity.
func TestRedriveFIFO(t *testing.T) {
	testenv.Fauxqs(t)
	c := sqstest.Client(t)
	fifo := map[string]string{"FifoQueue": "true"}
	dlqURL, queue := sqstest.Queue(t, c, "d.fifo", fifo), sqstest.Queue(t, c, "q.fifo", fifo)
	if failed := sqs.NewDeadLetter(c, dlqURL).Send(context.Background(), []purchase.Rejection{
		{MessageID: "m-1", Identity: "order-1", Body: `{"n":1}`, Reason: "bad", Group: "merchant-a"},
		{MessageID: "m-2", Identity: "order-2", Body: `{"n":2}`, Reason: "bad", Group: "merchant-b"},
	}); failed != nil {
		t.Fatal(failed)
	}
	sum, err := dlq.New(c).Redrive(context.Background(), dlqURL, queue, dlq.Select{}, false)
	if err != nil || sum != (dlq.RedriveSummary{Read: 2, Matched: 2, Sent: 2, Deleted: 2}) {
		t.Fatalf("redrive = %+v, %v", sum, err)
	}
	got := map[string]string{}
	for _, m := range sqstest.ReceiveAllMessages(t, c, queue) {
		got[aws.ToString(m.MessageAttributes[sqs.AttrIdempotencyKey].StringValue)] = m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
	}
	if want := map[string]string{"order-1": "merchant-a", "order-2": "merchant-b"}; !maps.Equal(got, want) {
		t.Errorf("queue holds key -> group %v, want %v", got, want)
	}
}
