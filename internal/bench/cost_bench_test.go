package bench_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/acmecheckout/reports/internal/bench"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/simulate"
	"github.com/acmecheckout/reports/internal/testenv"
)

// costWorkload is issue 5's seeded workload: 3,000 purchases over 3 days
// from 300 merchants with Zipf-like popularity.
var costWorkload = simulate.Config{Count: 3000, Days: 3, Merchants: 300, Seed: 5}

// BenchmarkWriteUnits counts the whole workload, in batches of 10 and 100,
// into fresh tables on DynamoDB Local through a fault-free faultproxy, and reports
// the DynamoDB write units the proxy counted per event (wu/event), for the
// store ("ours") and for the naive design ("naive": one UpdateItem per
// datapoint per event, or one transaction per event). Next to them:
//
//   - floor-wu/event, the floor: bench.PlainFloor in plain mode; in
//     exactly-once mode the sum of bench.TransactionFloor over the
//     transactions sent (markers plus distinct datapoints per transaction);
//   - bound-wu/event (exactly once): bench.ExactlyOnceBound, the floor if a
//     whole batch fitted in one transaction.
func BenchmarkWriteUnits(b *testing.B) {
	w := mustWorkload(b, costWorkload)
	for _, mode := range []string{"plain", "exactly-once"} {
		exactlyOnce := mode == "exactly-once"
		for _, size := range []int{10, 100} {
			batches := w.Batches(size)
			for _, design := range []string{"ours", "naive"} {
				b.Run(fmt.Sprintf("%s/batch=%d/%s", mode, size, design), func(b *testing.B) {
					var chunkFloor atomic.Int64
					db := mustCounted(b, func(op string, body []byte) {
						if op == "TransactWriteItems" {
							units, err := bench.TransactionFloor(body)
							if err != nil {
								b.Error(err)
							}
							chunkFloor.Add(units)
						}
					})
					var units int64
					var requests, transactions int
					for range b.N {
						table, idem := testenv.Tables(b, db.direct, exactlyOnce)
						var c purchase.Counter = bench.NewNaiveWriter(db.client, table, idem)
						if design == "ours" {
							c = dynamo.New(db.client, table, dynamo.WithIdempotencyTable(idem),
								dynamo.WithLogger(slog.New(slog.DiscardHandler)))
						}
						db.proxy.Reset()
						chunkFloor.Store(0)
						for _, batch := range batches {
							res, err := c.Add(context.Background(), batch)
							if err != nil || len(res.Failed) > 0 || len(res.Duplicates) > 0 {
								b.Fatalf("count: %v, failed %v, duplicates %v", err, res.Failed, res.Duplicates)
							}
							transactions += res.Transactions
						}
						st := db.proxy.Stats()
						units += st.TotalWriteUnits()
						for _, n := range st.Requests {
							requests += n
						}
					}
					events := float64(b.N * len(w.Deliveries))
					perEvent := func(units int64) float64 { return float64(units) / float64(len(w.Deliveries)) }
					b.ReportMetric(float64(units)/events, "wu/event")
					b.ReportMetric(float64(requests)/events, "requests/event")
					if !exactlyOnce {
						b.ReportMetric(perEvent(bench.PlainFloor(batches)), "floor-wu/event")
						return
					}
					b.ReportMetric(perEvent(chunkFloor.Load()), "floor-wu/event")
					b.ReportMetric(perEvent(bench.ExactlyOnceBound(batches)), "bound-wu/event")
					b.ReportMetric(float64(transactions)/float64(b.N*len(batches)), "tx/batch")
				})
			}
		}
	}
}
