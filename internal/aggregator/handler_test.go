package aggregator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/purchase"
)

func quiet() aggregator.Option { return aggregator.WithLogger(slog.New(slog.DiscardHandler)) }

// answer is what a batch answers SQS: the message ids to deliver again.
func answer(t testing.TB, h *aggregator.Handler, msgs ...events.SQSMessage) (aggregator.Result, []string) {
	t.Helper()
	res := h.Process(context.Background(), msgs)
	if res.Err != nil {
		t.Fatalf("Process: %v", res.Err)
	}
	failures := []string{}
	for _, f := range aggregator.Response(res).BatchItemFailures {
		failures = append(failures, f.ItemIdentifier)
	}
	return res, failures
}

// TestIdempotencyKey: a producer retrying a send under one key, within a
// batch or across batches, counts once; a message without a key is counted
// under its message id, which a redriven copy carries as its key.
func TestIdempotencyKey(t *testing.T) {
	c := newFakeCounter()
	h := aggregator.New(c, quiet())
	testCases := []struct {
		name           string
		msgs           []events.SQSMessage
		wantIdentities []string // handed to the store, in one call
		want           aggregator.Summary
	}{
		{
			name:           "retry within a batch",
			msgs:           []events.SQSMessage{msg("m1", body(1), "order-1"), msg("m2", body(1), "order-1"), msg("m3", body(3))},
			wantIdentities: []string{"order-1", "m3"},
			want:           aggregator.Summary{Messages: 3, Valid: 3, Counted: 2, Duplicates: 1, Datapoints: 10},
		},
		{
			name:           "retry in a later batch",
			msgs:           []events.SQSMessage{msg("m4", body(1), "order-1"), msg("m5", body(5), "order-5")},
			wantIdentities: []string{"order-1", "order-5"},
			want:           aggregator.Summary{Messages: 2, Valid: 2, Counted: 1, Duplicates: 1, Datapoints: 5},
		},
		{
			name:           "a redriven message keyed by its first message id",
			msgs:           []events.SQSMessage{msg("m6", body(3), "m3")},
			wantIdentities: []string{"m3"},
			want:           aggregator.Summary{Messages: 1, Valid: 1, Duplicates: 1},
		},
		{
			name:           "the same message twice in a batch",
			msgs:           []events.SQSMessage{msg("m7", body(7)), msg("m7", body(7))},
			wantIdentities: []string{"m7"},
			want:           aggregator.Summary{Messages: 2, Valid: 2, Counted: 1, Duplicates: 1, Datapoints: 5},
		},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(c.identities())
			res, failures := answer(t, h, tc.msgs...)
			if len(failures) != 0 {
				t.Errorf("batch item failures %v, want none", failures)
			}
			calls := c.identities()[before:]
			if len(calls) != 1 || !slices.Equal(calls[0], tc.wantIdentities) {
				t.Errorf("store calls %v, want one with %v", calls, tc.wantIdentities)
			}
			got := res.Summary
			got.DurationMS = 0
			if got != tc.want {
				t.Errorf("summary\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if n := c.events(); n != 4 {
		t.Errorf("%d purchases counted in all, want 4 (order-1, m3, order-5, m7)", n)
	}
}

// TestMalformedKey: a present but malformed idempotencyKey makes the event
// invalid, with a reason naming the attribute; without a dead-letter queue
// it is reported for the redrive policy.
func TestMalformedKey(t *testing.T) {
	c := newFakeCounter()
	h := aggregator.New(c, quiet())
	number := events.SQSMessage{MessageId: "number", Body: body(4), MessageAttributes: map[string]events.SQSMessageAttribute{
		"idempotencyKey": {DataType: "Binary", BinaryValue: []byte("k")},
	}}
	res, failures := answer(t, h,
		msg("empty", body(1), ""),
		msg("long", body(2), strings.Repeat("k", 129)),
		msg("control", body(3), "order\n3"),
		number,
		msg("ok", body(5), strings.Repeat("k", 128)),
	)
	want := []string{"empty", "long", "control", "number"}
	if !slices.Equal(failures, want) {
		t.Errorf("batch item failures %v, want %v", failures, want)
	}
	if res.Invalid != 4 || res.Counted != 1 {
		t.Errorf("summary %+v, want 4 invalid and 1 counted", res.Summary)
	}
	for _, p := range res.InvalidEvents {
		if !strings.Contains(p.Reason, "message attribute idempotencyKey") {
			t.Errorf("reason for %s %q does not name the attribute", p.MessageID, p.Reason)
		}
	}
}

// TestFailedIdentity: when the store fails an identity, every message
// carrying it is reported for SQS to deliver again, and the others succeed.
func TestFailedIdentity(t *testing.T) {
	c := newFakeCounter()
	c.fail["order-2"] = errors.New("throttled")
	h := aggregator.New(c, quiet())
	res, failures := answer(t, h, msg("a", body(2), "order-2"), msg("b", body(1)), msg("c", body(2), "order-2"))
	if !slices.Equal(failures, []string{"a", "c"}) {
		t.Errorf("batch item failures %v, want a and c", failures)
	}
	if res.Failed != 2 || res.Counted != 1 || res.Duplicates != 0 {
		t.Errorf("summary %+v, want 2 failed, 1 counted", res.Summary)
	}
	for _, p := range res.FailedMessages {
		if !strings.Contains(p.Reason, "throttled") {
			t.Errorf("failure of %s %q does not say why", p.MessageID, p.Reason)
		}
	}
}

// TestDeadLetterIdentity: a rejected event carries the identity it would be
// counted under, so that sending it back with that key never counts twice.
func TestDeadLetterIdentity(t *testing.T) {
	dlq := &fakeDeadLetter{fail: map[string]error{"refused": errors.New("too big")}}
	h := aggregator.New(newFakeCounter(), aggregator.WithDeadLetter(dlq), quiet())
	res, failures := answer(t, h,
		msg("keyed", `{"amount": "12"}`, "order-9"),
		msg("plain", "not json"),
		msg("bad-key", body(1), ""),
		msg("refused", "not json"),
		msg("valid", body(2), "order-2"),
	)
	if !slices.Equal(failures, []string{"refused"}) {
		t.Errorf("batch item failures %v, want only the refused one", failures)
	}
	if res.DeadLettered != 3 || res.Failed != 1 || res.Invalid != 4 || res.Counted != 1 {
		t.Errorf("summary %+v", res.Summary)
	}
	got := map[string]string{}
	for _, r := range dlq.parked {
		got[r.MessageID] = r.Identity
		if r.Reason == "" || r.Body == "" {
			t.Errorf("rejection %+v lacks its reason or body", r)
		}
	}
	if want := map[string]string{"keyed": "order-9", "plain": "plain", "bad-key": "bad-key"}; !reflect.DeepEqual(got, want) {
		t.Errorf("identities on the DLQ %v, want %v", got, want)
	}
}

// TestEmptyBatch: a batch with no valid event (a scheduled empty event
// among them) still calls the store once, with nothing, so that it can
// settle pending work.
func TestEmptyBatch(t *testing.T) {
	for _, msgs := range [][]events.SQSMessage{nil, {msg("bad", "not json")}} {
		c := newFakeCounter()
		h := aggregator.New(c, quiet())
		resp, err := h.Handle(context.Background(), events.SQSEvent{Records: msgs})
		if err != nil {
			t.Fatal(err)
		}
		if calls := c.identities(); len(calls) != 1 || len(calls[0]) != 0 {
			t.Errorf("%d messages: store calls %v, want one empty call", len(msgs), calls)
		}
		if len(resp.BatchItemFailures) != len(msgs) {
			t.Errorf("%d messages: response %+v", len(msgs), resp)
		}
	}
}

// TestFigures: the summary log line, the EMF line and the Summary carry the
// same figures under the names of the contract, the store's included.
func TestFigures(t *testing.T) {
	wantNames := []string{"Messages", "Valid", "Invalid", "DeadLettered", "Counted", "Duplicates", "Failed",
		"Datapoints", "Transactions", "WriteUnits", "RequestRetries", "ConflictRetries", "Duration"}
	if got := aggregator.MetricNames(); !slices.Equal(got, wantNames) {
		t.Fatalf("MetricNames() = %v, want %v", got, wantNames)
	}
	c := newFakeCounter()
	c.result = purchase.AddResult{Transactions: 2, WriteUnits: 12.5, RequestRetries: 3, ConflictRetries: 1}
	var logs, metrics bytes.Buffer
	h := aggregator.New(c, aggregator.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
		aggregator.WithMetrics(&metrics, "aggregator-test"), aggregator.WithDeadLetter(&fakeDeadLetter{}))
	res, _ := answer(t, h, mustEvent(t, "mixed-batch.json").Records...)
	want := aggregator.Summary{Messages: 10, Valid: 4, Invalid: 6, DeadLettered: 6, Counted: 4,
		Datapoints: 20, Transactions: 2, WriteUnits: 12.5, RequestRetries: 3, ConflictRetries: 1, DurationMS: res.DurationMS}
	if res.Summary != want {
		t.Fatalf("summary\n got %+v\nwant %+v", res.Summary, want)
	}
	var asJSON map[string]any
	if err := json.Unmarshal(mustMarshal(t, res.Summary), &asJSON); err != nil {
		t.Fatal(err)
	}

	var summary map[string]any
	for line := range strings.Lines(logs.String()) {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if l["msg"] == "batch processed" {
			summary = l
		}
	}
	var emf map[string]any
	if err := json.Unmarshal(metrics.Bytes(), &emf); err != nil || strings.Count(metrics.String(), "\n") != 1 {
		t.Fatalf("EMF output %q: %v", metrics.String(), err)
	}
	meta := emf["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if meta["Namespace"] != "CheckoutReports" || !reflect.DeepEqual(meta["Dimensions"], []any{[]any{"FunctionName"}}) || emf["FunctionName"] != "aggregator-test" {
		t.Errorf("EMF namespace and dimensions: %s", metrics.String())
	}
	units := map[string]any{}
	for _, m := range meta["Metrics"].([]any) {
		units[m.(map[string]any)["Name"].(string)] = m.(map[string]any)["Unit"]
	}
	for name, v := range asJSON {
		metric := strings.ToUpper(name[:1]) + name[1:]
		unit := "Count"
		if name == "durationMs" {
			metric, unit = "Duration", "Milliseconds"
		}
		if units[metric] != unit {
			t.Errorf("EMF metric %s: unit %v, want %s", metric, units[metric], unit)
		}
		if name == "durationMs" {
			continue
		}
		if summary[name] != v || emf[metric] != v {
			t.Errorf("%s: summary JSON %v, log %v, EMF %v; want all equal", name, v, summary[name], emf[metric])
		}
	}
	if len(units) != len(asJSON) {
		t.Errorf("EMF declares %d metrics, the summary has %d figures", len(units), len(asJSON))
	}
}

// TestStoreUnusable: a store error no retry fixes fails the invocation,
// unless invalid events were already dead-lettered: then the valid messages
// are reported failed instead.
func TestStoreUnusable(t *testing.T) {
	c := newFakeCounter()
	c.err = errors.New("table not found")
	var logs bytes.Buffer
	h := aggregator.New(c, aggregator.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if _, err := h.Handle(context.Background(), mustEvent(t, "valid-batch.json")); err == nil || !strings.Contains(err.Error(), "table not found") {
		t.Errorf("Handle error %v, want the store's", err)
	}
	if !strings.Contains(logs.String(), `"msg":"batch failed"`) {
		t.Errorf("no failure summary logged:\n%s", logs.String())
	}

	h = aggregator.New(c, aggregator.WithDeadLetter(&fakeDeadLetter{}), quiet())
	ev := mustEvent(t, "mixed-batch.json")
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle: %v; want the valid messages reported failed", err)
	}
	var valid, failed []string
	for _, r := range ev.Records {
		if _, err := purchase.Parse([]byte(r.Body)); err == nil {
			valid = append(valid, r.MessageId)
		}
	}
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if !slices.Equal(failed, valid) {
		t.Errorf("batch item failures %v, want the valid messages %v", failed, valid)
	}
}

// stuckCounter never answers before its context ends.
type stuckCounter struct{}

func (stuckCounter) Add(ctx context.Context, _ []purchase.Delivery) (purchase.AddResult, error) {
	<-ctx.Done()
	return purchase.AddResult{}, ctx.Err()
}

// TestDeadline: a store that does not answer is cut off a safety margin
// before the invocation deadline; every valid event is reported failed and
// the invocation does not fail.
func TestDeadline(t *testing.T) {
	h := aggregator.New(stuckCounter{}, aggregator.WithSafetyMargin(300*time.Millisecond), quiet())
	ev := mustEvent(t, "mixed-batch.json")
	deadline := time.Now().Add(time.Second)
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
		t.Errorf("%d batch item failures, want all %d", got, want)
	}
}

// TestResponseShape: an all-successful batch answers an empty list, not null.
func TestResponseShape(t *testing.T) {
	for _, tc := range []struct {
		res  aggregator.Result
		want string
	}{
		{aggregator.Result{}, `{"batchItemFailures":[]}`},
		{aggregator.Result{ItemFailures: []string{"a", "b"}}, `{"batchItemFailures":[{"itemIdentifier":"a"},{"itemIdentifier":"b"}]}`},
	} {
		if got := string(mustMarshal(t, aggregator.Response(tc.res))); got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
