package aggregator_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/aggregator"
)

// replay runs Replay over input with the fake counter and returns the summary
// and what it reported on problems.
func replay(t *testing.T, c *fakeCounter, input string, opts ...aggregator.ReplayOption) (aggregator.ReplaySummary, string) {
	t.Helper()
	var problems bytes.Buffer
	sum, err := aggregator.Replay(context.Background(), aggregator.New(c, quiet()), strings.NewReader(input), &problems, opts...)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	sum.DurationMS = 0
	return sum, problems.String()
}

// TestReplayIdentities: JSON lines are identified by their source, line
// number and content. Re-running an input counts nothing twice; the same
// purchase on another line, or in another input, is another purchase.
func TestReplayIdentities(t *testing.T) {
	a := body(1) + "\n" + body(2) + "\n" + body(1) + "\n" // line 3 repeats line 1: two purchases
	c := newFakeCounter()
	steps := []struct {
		name        string
		input       string
		source      string
		wantCounted int
		wantDups    int
	}{
		{"an input", a, "day-1.jsonl", 3, 0},
		{"the same input again", a, "day-1.jsonl", 0, 3},
		{"the same lines in another input", a, "day-2.jsonl", 3, 0},
		{"a corrected copy: unchanged lines keep their identity", body(1) + "\n" + body(9) + "\n" + body(1) + "\n", "day-1.jsonl", 1, 2},
	}
	for _, s := range steps {
		sum, problems := replay(t, c, s.input, aggregator.WithSource(s.source))
		if sum.Counted != s.wantCounted || sum.Duplicates != s.wantDups || problems != "" {
			t.Errorf("%s: counted %d, duplicates %d, problems %q; want %d, %d", s.name, sum.Counted, sum.Duplicates, problems, s.wantCounted, s.wantDups)
		}
	}
}

// TestReplayKeyField: with a key field, a line's identity is the field's
// value, whatever its input or line.
func TestReplayKeyField(t *testing.T) {
	withKey := func(key string, n int) string {
		return strings.Replace(body(n), "{", `{"orderId":`+key+",", 1)
	}
	c := newFakeCounter()
	input := strings.Join([]string{
		withKey(`"o-1"`, 1),
		withKey(`"o-1"`, 1), // the producer logged it twice
		withKey(`4711`, 2),  // a number is its text
		body(3),             // no key field
		withKey(`""`, 4),    // malformed key
		withKey(`true`, 5),  // not a string or number
	}, "\n")
	sum, problems := replay(t, c, input, aggregator.WithKeyField("orderId"), aggregator.WithSource("a"))
	if sum.Counted != 2 || sum.Duplicates != 1 || sum.Invalid != 3 || sum.Messages != 6 {
		t.Errorf("summary %+v, want 2 counted, 1 duplicate, 3 invalid of 6", sum.Summary)
	}
	for _, want := range []string{
		`line 4: invalid: key field "orderId": is required`,
		`line 5: invalid: message attribute idempotencyKey: empty`,
		`line 6: invalid: key field "orderId": must be a string or a number, got true`,
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems do not say %q:\n%s", want, problems)
		}
	}
	// Another input with the same keys counts nothing again.
	sum, _ = replay(t, c, withKey(`4711`, 2)+"\n"+withKey(`"o-1"`, 1), aggregator.WithKeyField("orderId"), aggregator.WithSource("b"))
	if sum.Counted != 0 || sum.Duplicates != 2 {
		t.Errorf("second input: %+v, want 2 duplicates", sum.Summary)
	}
}

// TestReplayInputs: SQS events keep their message ids and keys; blank lines
// are skipped; a broken SQS event is read as JSON lines.
func TestReplayInputs(t *testing.T) {
	quote := func(s string) string { return string(mustMarshal(t, s)) }
	ev := `{"Records": [{"messageId": "m1", "body": ` + quote(body(1)) + `, "messageAttributes": {"idempotencyKey": {"stringValue": "order-1", "dataType": "String"}}},
	{"messageId": "m2", "body": ` + quote(body(1)) + `, "messageAttributes": {"idempotencyKey": {"stringValue": "order-1", "dataType": "String"}}}]}`
	c := newFakeCounter()
	sum, _ := replay(t, c, ev)
	if sum.Input != "sqs" || sum.Counted != 1 || sum.Duplicates != 1 {
		t.Errorf("SQS event: %+v, want one purchase counted once", sum)
	}
	if ids := c.identities(); len(ids) != 1 || len(ids[0]) != 1 || ids[0][0] != "order-1" {
		t.Errorf("identities %v, want order-1", ids)
	}
	sum, problems := replay(t, c, "\n\n"+body(1)+"\n  \n")
	if sum.Messages != 1 || sum.Counted != 1 || problems != "" {
		t.Errorf("blank lines: %+v %q", sum, problems)
	}
	sum, problems = replay(t, c, `{"Records": [{"messageId": "x"`)
	if sum.Input != "jsonl" || sum.Invalid != 1 || problems != "line 1: invalid: not valid JSON\n" {
		t.Errorf("broken SQS event: %+v %q", sum, problems)
	}
	sum, _ = replay(t, c, "")
	if sum != (aggregator.ReplaySummary{Input: "jsonl"}) {
		t.Errorf("empty input: %+v", sum)
	}
}
