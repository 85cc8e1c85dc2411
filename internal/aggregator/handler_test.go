package aggregator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/faultproxy"
	"github.com/acmecheckout/reports/internal/golden"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/sqs"
	"github.com/acmecheckout/reports/internal/testenv"
)

// fastRetry keeps the store's retries quick in tests.
func fastRetry() dynamo.Option { return dynamo.WithRetry(4, time.Millisecond, 5*time.Millisecond) }

// TestHandle runs the handler against the real store on DynamoDB Local and the
// dead-letter queue on fauxqs, with the golden batches of testdata/sqs.
func TestHandle(t *testing.T) {
	testenv.Fauxqs(t)
	testenv.DynamoDBLocal(t)
	cfg := mustAWS(t)
	ddb := dynamodb.NewFromConfig(cfg)
	sqsClient := awssqs.NewFromConfig(cfg)
	invalid := mustGolden[[]aggregator.Problem](t, "mixed-batch.invalid.json")

	type dlqMode int
	const (
		noDLQ dlqMode = iota
		withDLQ
		missingDLQ // DLQ_URL names a queue that does not exist: every send fails
	)
	testCases := []struct {
		name         string
		event        string
		dlq          dlqMode
		mutate       func(*events.SQSEvent) // makes a fault the golden event lacks
		wantResponse string                 // golden file, or inline JSON
		wantCounts   string
		wantDLQ      []aggregator.Problem // messageId and error attribute of what is on the DLQ
		want         aggregator.Summary   // figures other than Datapoints and DurationMS
	}{
		{
			name: "valid batch", event: "valid-batch.json", dlq: noDLQ,
			wantResponse: "valid-batch.response.json", wantCounts: "valid-batch.counts.json",
			want: aggregator.Summary{Messages: 5, Valid: 5, Counted: 5},
		},
		{
			name: "valid batch with DLQ", event: "valid-batch.json", dlq: withDLQ,
			wantResponse: "valid-batch.response.json", wantCounts: "valid-batch.counts.json",
			wantDLQ: []aggregator.Problem{},
			want:    aggregator.Summary{Messages: 5, Valid: 5, Counted: 5},
		},
		{
			name: "mixed batch without DLQ reports invalid events", event: "mixed-batch.json", dlq: noDLQ,
			wantResponse: "mixed-batch.response.json", wantCounts: "mixed-batch.counts.json",
			want: aggregator.Summary{Messages: 10, Valid: 4, Invalid: 6, Counted: 4},
		},
		{
			name: "mixed batch with DLQ acknowledges invalid events", event: "mixed-batch.json", dlq: withDLQ,
			wantResponse: "mixed-batch.response-dlq.json", wantCounts: "mixed-batch.counts.json",
			wantDLQ: invalid,
			want:    aggregator.Summary{Messages: 10, Valid: 4, Invalid: 6, DeadLettered: 6, Counted: 4},
		},
		{
			name: "DLQ call fails: invalid events reported failed", event: "mixed-batch.json", dlq: missingDLQ,
			wantResponse: "mixed-batch.response.json", wantCounts: "mixed-batch.counts.json",
			want: aggregator.Summary{Messages: 10, Valid: 4, Invalid: 6, Counted: 4, Failed: 6},
		},
		{
			name: "DLQ entry fails: that event reported failed", event: "mixed-batch.json", dlq: withDLQ,
			mutate: func(ev *events.SQSEvent) {
				// SQS rejects U+0001 in a body: this entry comes back Failed.
				ev.Records[1].Body = "purchase:\u0001 4285 cents"
			},
			wantResponse: fmt.Sprintf(`{"batchItemFailures":[{"itemIdentifier":%q}]}`, invalid[0].MessageID),
			wantCounts:   "mixed-batch.counts.json",
			wantDLQ:      invalid[1:],
			want:         aggregator.Summary{Messages: 10, Valid: 4, Invalid: 6, DeadLettered: 5, Counted: 4, Failed: 1},
		},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			table, _ := testenv.Tables(t, ddb, false)
			var logs, metrics bytes.Buffer
			opts := []aggregator.Option{
				aggregator.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
				aggregator.WithMetrics(&metrics, "aggregator-test"),
			}
			var dlqURL string
			switch tc.dlq {
			case withDLQ:
				dlqURL = mustQueue(t, sqsClient, "dlq")
			case missingDLQ:
				dlqURL = strings.TrimSuffix(mustQueue(t, sqsClient, "dlq"), "/") + "-missing"
			}
			if dlqURL != "" {
				opts = append(opts, aggregator.WithDeadLetter(sqs.NewDeadLetter(sqsClient, dlqURL)))
			}
			h := aggregator.New(dynamo.New(ddb, table, fastRetry()), opts...)

			ev := mustEvent(t, tc.event)
			if tc.mutate != nil {
				tc.mutate(&ev)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, err := h.Handle(ctx, ev)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}

			wantResponse := []byte(tc.wantResponse)
			if strings.HasSuffix(tc.wantResponse, ".json") {
				wantResponse = mustRead(t, sqsTestdata+"/"+tc.wantResponse)
			}
			golden.JSONEqual(t, "response", mustMarshal(t, resp), wantResponse)
			wantCounts := mustGolden[[]purchase.Total](t, tc.wantCounts)
			golden.JSONEqual(t, "counts", mustMarshal(t, testenv.ScanCounts(t, ddb, table)), mustMarshal(t, wantCounts))

			if tc.wantDLQ != nil {
				var got []aggregator.Problem
				bodies := map[string]string{}
				for _, r := range ev.Records {
					bodies[r.MessageId] = r.Body
				}
				for _, m := range receiveAll(t, sqsClient, dlqURL) {
					src := aws.ToString(m.MessageAttributes[sqs.AttrSourceMessageID].StringValue)
					got = append(got, aggregator.Problem{MessageID: src, Reason: aws.ToString(m.MessageAttributes[sqs.AttrError].StringValue)})
					if aws.ToString(m.Body) != bodies[src] {
						t.Errorf("DLQ body of %s = %q, want the original %q", src, aws.ToString(m.Body), bodies[src])
					}
				}
				sortProblems(got)
				want := slices.Clone(tc.wantDLQ)
				sortProblems(want)
				golden.JSONEqual(t, "dead-lettered", mustMarshal(t, orEmpty(got)), mustMarshal(t, want))
			}

			// One summary log line and one EMF line carry the same figures.
			want := tc.want
			want.Datapoints = len(wantCounts)
			wantFigures := summaryFigures(want)
			var summaries []map[string]any
			for _, l := range logLines(t, logs.Bytes()) {
				if l["msg"] == "batch processed" {
					summaries = append(summaries, l)
				}
			}
			if len(summaries) != 1 {
				t.Fatalf("want one summary log line, got %d in:\n%s", len(summaries), logs.String())
			}
			if got := figures(summaries[0], slices.Collect(maps.Keys(wantFigures))...); !reflect.DeepEqual(got, wantFigures) {
				t.Errorf("summary log figures:\n got %v\nwant %v", got, wantFigures)
			}
			if _, ok := summaries[0]["durationMs"].(float64); !ok {
				t.Errorf("summary log has no durationMs: %v", summaries[0])
			}
			mustEMF(t, metrics.Bytes(), "aggregator-test", wantFigures)
		})
	}
}

// mustEMF checks that b is one CloudWatch Embedded Metric Format line
// declaring every figure as a metric, with the expected values.
func mustEMF(t testing.TB, b []byte, function string, want map[string]float64) {
	t.Helper()
	lines := logLines(t, b)
	if len(lines) != 1 {
		t.Fatalf("want one EMF line, got %d:\n%s", len(lines), b)
	}
	var emf struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(b), &emf); err != nil {
		t.Fatalf("EMF line: %v", err)
	}
	line := lines[0]
	if emf.AWS.Timestamp == 0 || len(emf.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("EMF metadata: %s", b)
	}
	d := emf.AWS.CloudWatchMetrics[0]
	if d.Namespace != aggregator.Namespace || !reflect.DeepEqual(d.Dimensions, [][]string{{"FunctionName"}}) || line["FunctionName"] != function {
		t.Errorf("EMF namespace/dimensions: %s", b)
	}
	declared := map[string]string{}
	for _, m := range d.Metrics {
		declared[m.Name] = m.Unit
		if _, ok := line[m.Name].(float64); !ok {
			t.Errorf("EMF metric %s has no numeric value", m.Name)
		}
	}
	if declared["Duration"] != "Milliseconds" {
		t.Errorf("EMF Duration unit = %q", declared["Duration"])
	}
	for name, v := range want {
		metric := strings.ToUpper(name[:1]) + name[1:]
		if declared[metric] != "Count" {
			t.Errorf("EMF metric %s not declared as a Count: %s", metric, b)
		}
		if line[metric] != v {
			t.Errorf("EMF %s = %v, want %v", metric, line[metric], v)
		}
	}
}

func sortProblems(p []aggregator.Problem) {
	slices.SortFunc(p, func(a, b aggregator.Problem) int { return strings.Compare(a.MessageID, b.MessageID) })
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// TestResponseShape: an all-successful batch answers an empty list, not null.
func TestResponseShape(t *testing.T) {
	testCases := []struct {
		name string
		res  aggregator.Result
		want string
	}{
		{"all succeeded", aggregator.Result{}, `{"batchItemFailures":[]}`},
		{"two failed", aggregator.Result{ItemFailures: []string{"a", "b"}},
			`{"batchItemFailures":[{"itemIdentifier":"a"},{"itemIdentifier":"b"}]}`},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			if got := string(mustMarshal(t, aggregator.Response(tc.res))); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestExactlyOnce: with an idempotency table, a batch delivered again, or a
// message repeated within a batch, is acknowledged as a duplicate and counted
// once.
func TestExactlyOnce(t *testing.T) {
	testenv.DynamoDBLocal(t)
	ddb := dynamodb.NewFromConfig(mustAWS(t))
	table, idem := testenv.Tables(t, ddb, true)
	var logs bytes.Buffer
	h := aggregator.New(dynamo.New(ddb, table, dynamo.WithIdempotencyTable(idem), fastRetry()),
		aggregator.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	valid := mustEvent(t, "valid-batch.json")
	repeated := mustEvent(t, "valid-batch.json")
	repeated.Records = append(repeated.Records, repeated.Records[0]) // SQS may hand one message twice

	testCases := []struct {
		name string
		ev   events.SQSEvent
		want aggregator.Summary
	}{
		{"first delivery", valid, aggregator.Summary{Messages: 5, Valid: 5, Counted: 5}},
		{"same batch again", valid, aggregator.Summary{Messages: 5, Valid: 5, Duplicates: 5}},
		{"a message twice in one batch", repeated, aggregator.Summary{Messages: 6, Valid: 6, Duplicates: 6}},
	}
	wantCounts := mustMarshal(t, mustGolden[[]purchase.Total](t, "valid-batch.counts.json"))
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			res := h.Process(context.Background(), tc.ev.Records)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			golden.JSONEqual(t, "response", mustMarshal(t, aggregator.Response(res)), []byte(`{"batchItemFailures":[]}`))
			got := summaryFigures(res.Summary)
			want := summaryFigures(tc.want)
			for _, k := range []string{"datapoints", "transactions"} { // the store's business
				delete(got, k)
				delete(want, k)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("summary:\n got %v\nwant %v", got, want)
			}
			golden.JSONEqual(t, "counts", mustMarshal(t, testenv.ScanCounts(t, ddb, table)), wantCounts)
		})
	}
}

// TestTransientFaults: with DynamoDB throttling, failing and losing
// responses, redelivering what the handler reports failed until nothing is
// left counts every valid event exactly once: never dropped, never doubled.
func TestTransientFaults(t *testing.T) {
	db := testenv.DynamoDBLocal(t)
	proxy := db.FaultProxy(t, faultproxy.Config{
		Seed: 42, Rate: 0.4, Ops: []string{"TransactWriteItems"},
	})
	direct := db.Client
	table, idem := testenv.Tables(t, direct, true)
	// Few attempts, so that some deliveries fail for good and are redelivered
	// (the seed and rate are chosen so that some do: DynamoDB names every
	// failed condition of a cancelled transaction at once, so a lost response
	// costs one retry, not one per message).
	store := dynamo.New(dynamodb.NewFromConfig(mustAWS(t)), table, dynamo.WithIdempotencyTable(idem),
		dynamo.WithRetry(2, time.Millisecond, 2*time.Millisecond), dynamo.WithLogger(slog.New(slog.DiscardHandler)))
	h := aggregator.New(store, aggregator.WithRetries(1, time.Millisecond),
		aggregator.WithLogger(slog.New(slog.DiscardHandler)))

	batches := append(generate(t, 300, 10), mustEvent(t, "mixed-batch.json"))
	var total aggregator.Summary
	for _, ev := range batches {
		pending := ev.Records
		for round := 0; len(pending) > 0; round++ {
			if round == 50 {
				t.Fatalf("still %d messages failing after %d redeliveries", len(pending), round)
			}
			res := h.Process(context.Background(), pending)
			if res.Err != nil {
				t.Fatalf("round %d: %v", round, res.Err)
			}
			total.Add(res.Summary)
			failed := map[string]bool{}
			for _, id := range res.ItemFailures {
				failed[id] = true
			}
			var next []events.SQSMessage
			for _, m := range pending {
				if _, err := purchase.Parse([]byte(m.Body)); err == nil && failed[m.MessageId] {
					next = append(next, m) // SQS delivers it again
				}
			}
			pending = next
		}
	}
	faults := proxy.Stats().Faults
	if faults[faultproxy.LostResponse]+faults[faultproxy.ClosedConnection] == 0 || total.Failed == 0 || total.Retries == 0 {
		t.Fatalf("the faults did not exercise lost responses, failures and retries: faults %v, summary %+v", faults, total)
	}
	golden.JSONEqual(t, "counts", mustMarshal(t, testenv.ScanCounts(t, direct, table)), mustMarshal(t, truth(t, batches...)))
	t.Logf("faults %v; summary over all deliveries %+v", faults, total)
}

// generate makes n valid purchase messages in SQS batches of size.
func generate(t testing.TB, n, size int) []events.SQSEvent {
	t.Helper()
	template := mustEvent(t, "valid-batch.json").Records[0]
	merchants := []string{"1bb53ed1-787b-4543-9def-ea18eef7902e", "7d3f0b6e-2c1a-4f8e-9b5d-0a1c2e3f4a5b", "0f8fad5b-d9cb-469f-a165-70867728950e"}
	methods := purchase.Methods()
	var out []events.SQSEvent
	for i := 0; i < n; i++ {
		if i%size == 0 {
			out = append(out, events.SQSEvent{})
		}
		m := template
		m.MessageId = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		m.Body = fmt.Sprintf(`{"date":"2011-12-%02dT%02d:%02d:00Z","amount":%d,"paymentMethod":%q,"merchantId":%q}`,
			1+i%3, i%24, i%60, (i*7919)%120000, methods[i%3], merchants[i%len(merchants)])
		m.Md5OfBody = md5Hex(m.Body)
		out[len(out)-1].Records = append(out[len(out)-1].Records, m)
	}
	return out
}

// TestDeadline: when DynamoDB does not answer, the handler gives up a safety
// margin before the invocation deadline and reports every valid event failed,
// so that the response is sent in time.
func TestDeadline(t *testing.T) {
	testenv.AWSEnv(t)
	stuck := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stuck:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stuck) })
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.URL)
	h := aggregator.New(dynamo.New(dynamodb.NewFromConfig(mustAWS(t)), "datapoints"),
		aggregator.WithSafetyMargin(300*time.Millisecond), aggregator.WithLogger(slog.New(slog.DiscardHandler)))

	ev := mustEvent(t, "mixed-batch.json")
	deadline := time.Now().Add(1500 * time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	resp, err := h.Handle(ctx, ev)
	if err != nil {
		t.Fatalf("Handle: %v (a timeout is not a configuration error)", err)
	}
	if left := time.Until(deadline); left < 100*time.Millisecond {
		t.Errorf("handler returned only %v before the deadline", left)
	}
	if got, want := len(resp.BatchItemFailures), len(ev.Records); got != want {
		t.Errorf("%d batch item failures, want all %d (valid ones timed out, invalid ones without DLQ)", got, want)
	}
}

// TestMissingTable: a table that does not exist is a configuration error no
// retry fixes: the invocation fails.
func TestMissingTable(t *testing.T) {
	testenv.DynamoDBLocal(t)
	ddb := dynamodb.NewFromConfig(mustAWS(t))
	for i, idempotency := range []string{"", "idempotency-missing"} {
		t.Run(fmt.Sprintf("%d idempotency=%q", i, idempotency), func(t *testing.T) {
			var logs bytes.Buffer
			h := aggregator.New(dynamo.New(ddb, "no-such-table", dynamo.WithIdempotencyTable(idempotency), fastRetry()),
				aggregator.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			_, err := h.Handle(context.Background(), mustEvent(t, "valid-batch.json"))
			if err == nil {
				t.Fatal("Handle succeeded with a missing table, want an invocation error")
			}
			if !strings.Contains(logs.String(), `"msg":"batch failed"`) {
				t.Errorf("no failure summary logged:\n%s", logs.String())
			}
		})
	}
}

// TestGoldenEvents: the payloads in testdata/sqs have the exact shape of a
// Lambda SQS event.
func TestGoldenEvents(t *testing.T) {
	for i, name := range []string{"valid-batch.json", "mixed-batch.json"} {
		t.Run(fmt.Sprintf("%d %s", i, name), func(t *testing.T) {
			var raw struct {
				Records []map[string]json.RawMessage
			}
			if err := json.Unmarshal(mustRead(t, sqsTestdata+"/"+name), &raw); err != nil {
				t.Fatal(err)
			}
			ev := mustEvent(t, name)
			if len(ev.Records) == 0 || len(ev.Records) > 10 {
				t.Fatalf("%d records, want 1..10", len(ev.Records))
			}
			for j, r := range ev.Records {
				for _, field := range []string{"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody", "eventSource", "eventSourceARN", "awsRegion"} {
					if _, ok := raw.Records[j][field]; !ok {
						t.Errorf("record %d lacks %s", j, field)
					}
				}
				if r.EventSource != "aws:sqs" || !strings.HasPrefix(r.EventSourceARN, "arn:aws:sqs:") || r.Attributes["ApproximateReceiveCount"] == "" {
					t.Errorf("record %d: not SQS-shaped: %+v", j, r)
				}
				if got := md5Hex(r.Body); got != r.Md5OfBody {
					t.Errorf("record %d: md5OfBody %s, want %s", j, r.Md5OfBody, got)
				}
			}
		})
	}
}

// TestMissingTableAfterDeadLetters: when the invalid events of the batch are
// already on the dead-letter queue, a missing table does not fail the
// invocation (SQS would deliver the whole batch, and the DLQ would get the
// invalid events again): the valid messages are reported failed instead.
func TestMissingTableAfterDeadLetters(t *testing.T) {
	testenv.DynamoDBLocal(t)
	testenv.Fauxqs(t)
	cfg := mustAWS(t)
	ddb, sqsClient := dynamodb.NewFromConfig(cfg), awssqs.NewFromConfig(cfg)
	dlqURL := mustQueue(t, sqsClient, "dlq")
	var logs bytes.Buffer
	h := aggregator.New(dynamo.New(ddb, "no-such-table", fastRetry()),
		aggregator.WithDeadLetter(sqs.NewDeadLetter(sqsClient, dlqURL)),
		aggregator.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	ev := mustEvent(t, "mixed-batch.json")
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle: %v; want the valid messages reported failed instead", err)
	}
	var valid []string
	for _, r := range ev.Records {
		if _, err := purchase.Parse([]byte(r.Body)); err == nil {
			valid = append(valid, r.MessageId)
		}
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if !slices.Equal(failed, valid) {
		t.Errorf("batch item failures %v, want the valid messages %v", failed, valid)
	}
	if got := len(receiveAll(t, sqsClient, dlqURL)); got != len(ev.Records)-len(valid) {
		t.Errorf("%d messages on the DLQ, want the %d invalid ones", got, len(ev.Records)-len(valid))
	}
	if !strings.Contains(logs.String(), `"level":"ERROR","msg":"batch failed"`) || !strings.Contains(logs.String(), "ResourceNotFoundException") {
		t.Errorf("the summary does not report the configuration error at ERROR:\n%s", logs.String())
	}
}
