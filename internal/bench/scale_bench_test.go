package bench_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/acmecheckout/reports/internal/bench"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/faultproxy"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/testenv"
)

// Modes of the scale benchmark: plain, exactly-once, and at batch 100 the
// exactly-once design before issue 14 (dynamo.WithoutParts: conflicts retried
// with backoff), measured in the same run for the before/after figures.
const (
	modePlain  = "plain"
	modeOnce   = "exactly-once"
	modeBefore = "exactly-once-before"
)

func scaleModes(batch int) []string {
	if batch == 100 {
		return []string{modePlain, modeOnce, modeBefore}
	}
	return []string{modePlain, modeOnce}
}

// BenchmarkScale is issue 14's scale benchmark: the busy-hours workload
// (bench.ScaleWorkload) counted by 1, 2, 4, 8 and 16 concurrent invocations,
// each its own dynamo.Store as each Lambda execution environment has its own,
// taking batches of 10, 100 or 1,000 from one queue, in plain and in
// exactly-once mode, into fresh tables on DynamoDB Local behind a faultproxy
// that emulates DynamoDB's latency (faultproxy.DynamoDBLatency) and its
// transaction-conflict rule. Deliveries a call reports failed go back on the
// queue, as SQS would redeliver them. After the queue is empty, one call
// settles what is pending (an empty Add) and the table is checked exact.
//
// Figures per run: events/s (the workload over the time from the first call
// to the last answer, settling excluded), conflicts (transactions and writes
// the proxy rejected for a conflict), wu/event (write units the proxy counted,
// settling included), redelivered/event. Then, per batch size, "gain"
// reports each mode's gain from 1 to 8 invocations and their ratio
// (eo/plain-gain), which issue 14 wants at least 0.75; at batch 100 also the
// gain of the design before issue 14 (before-gain) and exactly-once's write
// units per event at 8 invocations over the design before's
// (wu8/before-wu8), which issue 14 wants at most 1.10.
//
// Run it alone, once: go test -run '^$' -bench Scale -benchtime 1x ./internal/bench/
func BenchmarkScale(b *testing.B) {
	w := mustBusyWorkload(b)
	truth := purchase.Increments{}
	for _, d := range w.Deliveries {
		truth.Add(d.Event)
	}
	db := testenv.DynamoDBLocal(b)
	proxy := db.FaultProxy(b, faultproxy.Config{Conflicts: true, Latency: faultproxy.DynamoDBLatency()})
	client := mustClient(b)
	quiet := slog.New(slog.DiscardHandler)

	for _, size := range []int{10, 100, 1000} {
		batches := w.Batches(size)
		rates, units := map[string]float64{}, map[string]float64{}
		for _, mode := range scaleModes(size) {
			for _, invocations := range []int{1, 2, 4, 8, 16} {
				b.Run(fmt.Sprintf("batch=%d/%s/invocations=%d", size, mode, invocations), func(b *testing.B) {
					var elapsed time.Duration
					var written, settleUnits int64
					var conflicts, redelivered int
					for range b.N {
						table, idem := testenv.Tables(b, db.Client, mode != modePlain)
						stores := make([]*dynamo.Store, invocations)
						for i := range stores {
							opts := []dynamo.Option{dynamo.WithLogger(quiet)}
							if idem != "" {
								opts = append(opts, dynamo.WithIdempotencyTable(idem))
							}
							if mode == modeBefore {
								opts = append(opts, dynamo.WithoutParts())
							}
							stores[i] = dynamo.New(client, table, opts...)
						}
						proxy.Reset()
						start := time.Now()
						redelivered += drain(b, stores, batches)
						elapsed += time.Since(start)
						beforeSettle := proxy.Stats().TotalWriteUnits()
						settle(b, stores[0])
						st := proxy.Stats()
						settleUnits += st.TotalWriteUnits() - beforeSettle
						written += st.TotalWriteUnits()
						conflicts += st.Faults[faultproxy.Conflict]
						mustExact(b, db, table, truth)
					}
					events := float64(b.N * len(w.Deliveries))
					rate := events / elapsed.Seconds()
					rates[fmt.Sprint(mode, invocations)] = rate
					b.ReportMetric(rate, "events/s")
					b.ReportMetric(float64(conflicts)/float64(b.N), "conflicts")
					units[fmt.Sprint(mode, invocations)] = float64(written) / events
					b.ReportMetric(float64(written)/events, "wu/event")
					b.ReportMetric(float64(settleUnits)/events, "settle-wu/event")
					b.ReportMetric(float64(redelivered)/events, "redelivered/event")
					b.ReportMetric(0, "ns/op")
				})
			}
		}
		b.Run(fmt.Sprintf("batch=%d/gain", size), func(b *testing.B) {
			plain := rates[modePlain+"8"] / rates[modePlain+"1"]
			once := rates[modeOnce+"8"] / rates[modeOnce+"1"]
			b.ReportMetric(plain, "plain-gain")
			b.ReportMetric(once, "eo-gain")
			b.ReportMetric(once/plain, "eo/plain-gain")
			if size == 100 {
				b.ReportMetric(rates[modeBefore+"8"]/rates[modeBefore+"1"], "before-gain")
				b.ReportMetric(units[modeOnce+"8"]/units[modeBefore+"8"], "wu8/before-wu8")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// mustBusyWorkload generates the scale benchmark's workload.
func mustBusyWorkload(t testing.TB) bench.Workload {
	t.Helper()
	w, err := bench.NewBusyWorkload(bench.ScaleWorkload, bench.ScaleStart, bench.ScaleHours)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// queue hands batches to concurrent invocations, as SQS does, and takes back
// the deliveries a call failed, to be delivered again.
type queue struct {
	mu       sync.Mutex
	batches  [][]purchase.Delivery
	inFlight int
}

// next returns a batch, or false when the queue is empty and no batch is in
// flight (none can come back).
func (q *queue) next() ([]purchase.Delivery, bool) {
	for {
		q.mu.Lock()
		if len(q.batches) > 0 {
			b := q.batches[0]
			q.batches = q.batches[1:]
			q.inFlight++
			q.mu.Unlock()
			return b, true
		}
		done := q.inFlight == 0
		q.mu.Unlock()
		if done {
			return nil, false
		}
		time.Sleep(time.Millisecond)
	}
}

// done ends a batch, putting back its failed deliveries.
func (q *queue) done(failed []purchase.Delivery) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inFlight--
	if len(failed) > 0 {
		q.batches = append(q.batches, failed)
	}
}

// drain counts batches with the stores, one invocation per store, until the
// queue is empty, and returns how many deliveries were delivered again.
func drain(t testing.TB, stores []*dynamo.Store, batches [][]purchase.Delivery) int {
	t.Helper()
	q := &queue{batches: slices.Clone(batches)}
	var mu sync.Mutex
	redelivered := 0
	var g errgroup.Group
	for _, s := range stores {
		g.Go(func() error {
			for {
				batch, ok := q.next()
				if !ok {
					return nil
				}
				res, err := count(s, batch)
				if err != nil {
					return err
				}
				if len(res.Duplicates) > 0 {
					return fmt.Errorf("%d duplicates without any redelivery of a counted message", len(res.Duplicates))
				}
				var failed []purchase.Delivery
				for _, d := range batch {
					if _, ok := res.Failed[d.Identity]; ok {
						failed = append(failed, d)
					}
				}
				mu.Lock()
				redelivered += len(failed)
				mu.Unlock()
				q.done(failed)
			}
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return redelivered
}

// count is one invocation's call of the store.
func count(s *dynamo.Store, batch []purchase.Delivery) (purchase.AddResult, error) {
	return s.Add(context.Background(), batch)
}

// settle settles what the invocations left pending, as the schedule does.
func settle(t testing.TB, s *dynamo.Store) {
	t.Helper()
	if _, err := s.Add(context.Background(), nil); err != nil {
		t.Fatalf("settle: %v", err)
	}
}

// mustExact checks every datapoint of the table against the truth.
func mustExact(t testing.TB, db *testenv.DynamoDB, table string, truth purchase.Increments) {
	t.Helper()
	got := testenv.ScanCounts(t, db.Client, table)
	want := make([]purchase.Total, 0, len(truth))
	for dp, n := range truth {
		want = append(want, purchase.Total{Datapoint: dp.Key, Events: n})
	}
	slices.SortFunc(want, func(a, b purchase.Total) int { return strings.Compare(a.Datapoint, b.Datapoint) })
	if !slices.Equal(got, want) {
		wanted := map[string]int64{}
		for _, c := range want {
			wanted[c.Datapoint] = c.Events
		}
		var diff []string
		for _, c := range got {
			if wanted[c.Datapoint] != c.Events {
				diff = append(diff, fmt.Sprintf("%s: %d, want %d", c.Datapoint, c.Events, wanted[c.Datapoint]))
			}
			delete(wanted, c.Datapoint)
		}
		for dp, n := range wanted {
			diff = append(diff, fmt.Sprintf("%s: missing, want %d", dp, n))
		}
		t.Fatalf("table %s is not exact: %d datapoints, want %d: %v", table, len(got), len(want), diff)
	}
}
