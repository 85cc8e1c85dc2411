package aggregator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/acmecheckout/reports/internal/purchase"
)

// fakeCounter is an exactly-once purchase.Counter in memory: it remembers
// the identities it counted, and fails those in fail.
type fakeCounter struct {
	mu      sync.Mutex
	counted map[string]bool
	totals  purchase.Increments
	calls   [][]purchase.Delivery
	fail    map[string]error // identities to fail
	err     error            // returned by Add when set
	result  purchase.AddResult
}

func newFakeCounter() *fakeCounter {
	return &fakeCounter{counted: map[string]bool{}, totals: purchase.Increments{}, fail: map[string]error{}}
}

func (c *fakeCounter) Add(ctx context.Context, ds []purchase.Delivery) (purchase.AddResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, slices.Clone(ds))
	if c.err != nil {
		return purchase.AddResult{}, c.err
	}
	res := c.result
	seen := map[string]bool{}
	for _, d := range ds {
		if seen[d.Identity] {
			return purchase.AddResult{}, fmt.Errorf("identity %s given twice in one call", d.Identity)
		}
		seen[d.Identity] = true
		switch err, failed := c.fail[d.Identity]; {
		case failed:
			if res.Failed == nil {
				res.Failed = map[string]error{}
			}
			res.Failed[d.Identity] = err
		case c.counted[d.Identity]:
			res.Duplicates = append(res.Duplicates, d.Identity)
		default:
			c.counted[d.Identity] = true
			c.totals.Add(d.Event)
			res.Datapoints += 5
		}
	}
	return res, ctx.Err()
}

// identities returns the identities handed to the store, per call.
func (c *fakeCounter) identities() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]string, len(c.calls))
	for i, call := range c.calls {
		out[i] = []string{}
		for _, d := range call {
			out[i] = append(out[i], d.Identity)
		}
	}
	return out
}

// events returns how many events the counter has counted in all.
func (c *fakeCounter) events() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.counted)
}

// fakeDeadLetter records the rejections it parks and fails those in fail.
type fakeDeadLetter struct {
	mu     sync.Mutex
	parked []purchase.Rejection
	fail   map[string]error // message ids to fail
}

func (d *fakeDeadLetter) Send(_ context.Context, rejected []purchase.Rejection) map[string]error {
	d.mu.Lock()
	defer d.mu.Unlock()
	failed := map[string]error{}
	for _, r := range rejected {
		if err, ok := d.fail[r.MessageID]; ok {
			failed[r.MessageID] = err
			continue
		}
		d.parked = append(d.parked, r)
	}
	return failed
}

// msg is a purchase message with an optional idempotency key.
func msg(id, body string, key ...string) events.SQSMessage {
	m := events.SQSMessage{MessageId: id, Body: body}
	if len(key) > 0 {
		m.MessageAttributes = map[string]events.SQSMessageAttribute{
			"idempotencyKey": {DataType: "String", StringValue: &key[0]},
		}
	}
	return m
}

// body is a valid purchase event, distinct per n.
func body(n int) string {
	return fmt.Sprintf(`{"date":"2011-12-03T10:%02d:00Z","amount":%d,"paymentMethod":"SLICE_IT","merchantId":"1bb53ed1-787b-4543-9def-ea18eef7902e"}`, n%60, 100+n)
}

// mustEvent reads testdata/sqs/NAME.
func mustEvent(t testing.TB, name string) events.SQSEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata/sqs", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}
