package dynamo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/faultproxy"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/testenv"
)

// mustProxy puts a fault proxy in front of DynamoDB Local, points the SDK at
// the proxy and returns it with a client that talks to DynamoDB Local
// directly (for setup and for checking the results without faults).
func mustProxy(t testing.TB, cfg faultproxy.Config) (*faultproxy.Proxy, *dynamodb.Client) {
	t.Helper()
	db := testenv.DynamoDBLocal(t)
	return db.FaultProxy(t, cfg), db.Client
}

// updateOf decodes the datapoint and increment of an UpdateItem body.
func updateOf(body []byte) (datapoint, n string) {
	var in struct {
		Key                       map[string]map[string]string
		ExpressionAttributeValues map[string]map[string]string
	}
	_ = json.Unmarshal(body, &in)
	return in.Key[dynamo.AttrDatapoint]["S"], in.ExpressionAttributeValues[":n"]["N"]
}

// TestFaultsExactlyOnce drives many batches through a proxy that throttles,
// fails with 500/503, cancels transactions on conflicts, and applies writes
// whose responses it then loses, while SQS-like redelivery re-sends what
// failed and, at random, single messages and whole batches that succeeded.
// Once every message has succeeded, the counts equal the ground truth
// exactly.
func TestFaultsExactlyOnce(t *testing.T) {
	p, direct := mustProxy(t, faultproxy.Config{Seed: 42, Rate: 0.3})
	table, idem := testenv.Tables(t, direct, true)
	s := dynamo.New(mustClient(t), table, dynamo.WithIdempotencyTable(idem),
		dynamo.WithMaxTransactionItems(30), dynamo.WithConcurrency(4),
		dynamo.WithRetry(3, time.Millisecond, 5*time.Millisecond)) // few attempts: some messages fail

	ds := generate(4, 1500)
	rng := rand.New(rand.NewPCG(9, 9))
	pending := slices.Clone(ds)
	var acked, prev []purchase.Delivery
	var rounds, failures, duplicates, retries int
	for ; len(pending) > 0; rounds++ {
		if rounds == 300 {
			t.Fatalf("%d messages still failing after %d batches", len(pending), rounds)
		}
		n := min(len(pending), 50+rng.IntN(100))
		batch := slices.Clone(pending[:n])
		pending = pending[n:]
		for range rng.IntN(6) { // single messages SQS delivers again
			if len(acked) > 0 {
				batch = append(batch, acked[rng.IntN(len(acked))])
			}
		}
		if prev != nil && rng.IntN(4) == 0 { // a whole batch again
			batch = append(batch, prev...)
		}
		rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		batch = distinct(batch) // as the handler does: the store takes distinct identities

		res := mustCount(t, s, batch)
		failures += len(res.Failed)
		duplicates += len(res.Duplicates)
		retries += res.RequestRetries + res.ConflictRetries
		for _, d := range batch {
			if _, failed := res.Failed[d.Identity]; failed {
				pending = append(pending, d)
			} else {
				acked = append(acked, d)
			}
		}
		prev = batch
	}

	stats := p.Stats()
	t.Logf("%d messages in %d batches: %d duplicates reported, %d failures redelivered, %d retries; faults %v",
		len(ds), rounds, duplicates, failures, retries, stats.Faults)
	for _, f := range faultproxy.AllFaults() {
		if stats.Faults[f] == 0 {
			t.Errorf("no %s fault was injected; the test does not cover it", f)
		}
	}
	if duplicates == 0 || retries == 0 || failures == 0 {
		t.Errorf("duplicates %d, retries %d, failures %d: want all > 0", duplicates, retries, failures)
	}
	mustMatch(t, dynamo.New(direct, table), truth(ds))
}

// TestConflicts: a transaction cancelled for a conflict is retried with
// backoff; one that keeps conflicting fails its messages with nothing
// applied.
func TestConflicts(t *testing.T) {
	var transactions, conflicts atomic.Int64
	p, direct := mustProxy(t, faultproxy.Config{Decide: func(op string, _ []byte) faultproxy.Fault {
		if op != "TransactWriteItems" {
			return faultproxy.None
		}
		if n := transactions.Add(1); n <= 2 || conflicts.Load() > 0 {
			return faultproxy.Conflict
		}
		return faultproxy.None
	}})
	table, idem := testenv.Tables(t, direct, true)
	s := dynamo.New(mustClient(t), table, dynamo.WithIdempotencyTable(idem), fastRetry())

	t.Run("retried", func(t *testing.T) {
		ds := generate(5, 10)
		res := mustCount(t, s, ds)
		if len(res.Failed) > 0 || res.ConflictRetries != 2 || res.RequestRetries != 0 || res.Transactions != 1 {
			t.Fatalf("Add = %+v; want 2 conflict retries, no request retry, then 1 transaction", res)
		}
		if got := p.Stats().Faults[faultproxy.Conflict]; got != 2 {
			t.Errorf("%d conflicts injected, want 2", got)
		}
		mustMatch(t, dynamo.New(direct, table), truth(ds))
	})
	t.Run("keeps conflicting", func(t *testing.T) {
		conflicts.Store(1)
		ds := generate(6, 10)
		res := mustCount(t, s, ds)
		if got := sorted(slices.Collect(mapsKeys(res.Failed))); !slices.Equal(got, sorted(ids(ds))) {
			t.Fatalf("failed %v, want every message", got)
		}
		for _, err := range res.Failed {
			if !strings.Contains(err.Error(), "TransactionConflict") {
				t.Errorf("failure %v does not name the conflict", err)
			}
		}
		for dp := range truth(ds) {
			if dp.Report == purchase.MerchantMethod { // generate(6) merchants are new
				if _, err := dynamo.New(direct, table).Get(context.Background(), dp.Key); !errors.Is(err, purchase.ErrNotFound) {
					t.Errorf("Get(%s) after a failed transaction: err = %v, want ErrNotFound", dp.Key, err)
				}
			}
		}
	})
}

// TestPlainCompensation: in plain mode a datapoint that keeps failing fails
// every delivery that touches it, and their increments to the other
// datapoints are taken back; a take-back that fails too is logged at ERROR
// with the datapoint and delta.
func TestPlainCompensation(t *testing.T) {
	const (
		broken   = "2011-12-03:10|10-50"                             // deliveries 0 and 1 only
		stubborn = "2011-12-03|1bb53ed1-787b-4543-9def-ea18eef7902e" // deliveries 0, 1 and 2
		sliceIt  = "1bb53ed1-787b-4543-9def-ea18eef7902e|SLICE_IT"   // deliveries 0, 1 and 6
	)
	var failStubborn atomic.Bool
	_, direct := mustProxy(t, faultproxy.Config{Decide: func(op string, body []byte) faultproxy.Fault {
		if op != "UpdateItem" {
			return faultproxy.None
		}
		dp, n := updateOf(body)
		if dp == broken || (failStubborn.Load() && dp == stubborn && strings.HasPrefix(n, "-")) {
			return faultproxy.Throttle
		}
		return faultproxy.None
	}})
	ds := mustGoldenDeliveries(t)
	good := slices.Concat(ds[2:])

	for _, tc := range []struct {
		name         string
		failTakeBack bool
	}{
		{"taken back", false},
		{"take-back fails", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failStubborn.Store(tc.failTakeBack)
			table, _ := testenv.Tables(t, direct, false)
			var logs bytes.Buffer
			s := dynamo.New(mustClient(t), table, fastRetry(),
				dynamo.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			res := mustCount(t, s, ds)
			if got := sorted(slices.Collect(mapsKeys(res.Failed))); !slices.Equal(got, sorted(ids(ds[:2]))) {
				t.Fatalf("failed %v, want the two deliveries of %s", got, broken)
			}
			if err := res.Failed[ds[0].Identity]; !strings.Contains(err.Error(), broken) {
				t.Errorf("failure %q does not name the datapoint", err)
			}
			want := truth(good)
			if tc.failTakeBack {
				for dp := range want {
					if dp.Key == stubborn {
						want[dp] += 2 // the two failed deliveries, not taken back
					}
				}
				line := logLine(t, &logs, "ERROR")
				if !strings.Contains(line, `"datapoint":"`+stubborn+`"`) || !strings.Contains(line, `"delta":-2`) {
					t.Errorf("ERROR log %s does not name datapoint %s and delta -2", line, stubborn)
				}
			} else if line := logLine(t, &logs, "ERROR"); line != "" {
				t.Errorf("unexpected ERROR log %s", line)
			}
			r := dynamo.New(direct, table)
			mustMatch(t, r, want)
			if c, err := r.Get(context.Background(), sliceIt); err != nil || c.Events != 1 {
				t.Errorf("Get(%s) = %+v, %v; want 1 event after the take-back", sliceIt, c, err)
			}
		})
	}
}

// logLine returns the first JSON log line at level, or "".
func logLine(t *testing.T, logs *bytes.Buffer, level string) string {
	t.Helper()
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, `"level":"`+level+`"`) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestTransactionOverlap runs exactly-once counting against a proxy that, as
// DynamoDB does, cancels a transaction touching an item another transaction
// in flight holds. The chunks of one call share the all-time datapoints, so
// they must not overlap one another: one call meets no conflict. Two calls
// at once (two invocations) do conflict, are retried, and still count
// exactly.
func TestTransactionOverlap(t *testing.T) {
	p, direct := mustProxy(t, faultproxy.Config{Conflicts: true, Hold: 5 * time.Millisecond})
	table, idem := testenv.Tables(t, direct, true)
	s := dynamo.New(mustClient(t), table, dynamo.WithIdempotencyTable(idem),
		dynamo.WithMaxTransactionItems(30),
		dynamo.WithRetry(100, time.Millisecond, 50*time.Millisecond)) // patient: two calls contend for the hot items throughout

	one := generate(11, 200)
	res := mustCount(t, s, one)
	if res.Transactions < 5 || len(res.Failed) > 0 || res.ConflictRetries > 0 {
		t.Fatalf("one call: %d transactions, %d failed, %d conflict retries; want ≥ 5, 0, 0", res.Transactions, len(res.Failed), res.ConflictRetries)
	}
	if n := p.Stats().Faults[faultproxy.Conflict]; n != 0 {
		t.Fatalf("the chunks of one call conflicted %d times", n)
	}

	a, b := generate(12, 200), generate(13, 200)
	var wg sync.WaitGroup
	results := make([]purchase.AddResult, 2)
	for i, ds := range [][]purchase.Delivery{a, b} {
		wg.Go(func() { results[i] = mustCount(t, s, ds) })
	}
	wg.Wait()
	for i, r := range results {
		if len(r.Failed) > 0 {
			t.Fatalf("concurrent call %d: %d messages failed: %v", i, len(r.Failed), r.Failed)
		}
	}
	t.Logf("two concurrent calls: %d conflicts, retries %d + %d", p.Stats().Faults[faultproxy.Conflict], results[0].ConflictRetries, results[1].ConflictRetries)

	// The same batch in two invocations at once (SQS delivering it again
	// while the first is still running): each message is counted by one of
	// them and is a duplicate for the other.
	c := generate(14, 100)
	for i := range results {
		wg.Go(func() { results[i] = mustCount(t, s, c) })
	}
	wg.Wait()
	dups := map[string]int{}
	for i, r := range results {
		if len(r.Failed) > 0 {
			t.Fatalf("redelivered call %d: %d messages failed: %v", i, len(r.Failed), r.Failed)
		}
		for _, id := range r.Duplicates {
			dups[id]++
		}
	}
	for _, d := range c {
		if dups[d.Identity] != 1 {
			t.Errorf("message %s is a duplicate for %d of the two calls, want exactly 1", d.Identity, dups[d.Identity])
		}
	}
	mustMatch(t, dynamo.New(direct, table), truth(one, a, b, c))
}
