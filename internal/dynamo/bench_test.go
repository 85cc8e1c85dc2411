package dynamo_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/faultproxy"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/testenv"
)

// BenchmarkAdd counts batches (up to SQS's largest, 10,000) of purchases
// from 1,000 merchants over one day through a fault-free proxy in front of
// DynamoDB Local and reports DynamoDB's cost: write request units and
// requests per message (the proxy's counters). Time per message is DynamoDB
// Local's, not DynamoDB's.
func BenchmarkAdd(b *testing.B) {
	for _, mode := range []string{"plain", "exactly-once"} {
		for _, size := range []int{10, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/batch=%d", mode, size), func(b *testing.B) {
				p, direct := mustProxy(b, faultproxy.Config{})
				table, idem := testenv.Tables(b, direct, mode == "exactly-once")
				opts := []dynamo.Option{dynamo.WithLogger(slog.New(slog.DiscardHandler))} // benchmark output stays clean
				if idem != "" {
					opts = append(opts, dynamo.WithIdempotencyTable(idem))
				}
				s := dynamo.New(mustClient(b), table, opts...)
				batches := make([][]purchase.Delivery, b.N)
				for i := range batches {
					batches[i] = generateSpread(uint64(i+1000), size, 1000, 24*time.Hour)
				}
				p.Reset()
				b.ResetTimer()
				var transactions int
				for i := range b.N {
					res := mustCount(b, s, batches[i])
					if len(res.Failed) > 0 {
						b.Fatalf("failed: %v", res.Failed)
					}
					transactions += res.Transactions
				}
				b.StopTimer()
				st := p.Stats()
				msgs := float64(b.N * size)
				requests := 0
				for _, n := range st.Requests {
					requests += n
				}
				b.ReportMetric(float64(st.TotalWriteUnits())/msgs, "WRU/msg")
				b.ReportMetric(float64(requests)/msgs, "requests/msg")
				b.ReportMetric(float64(transactions)/float64(b.N), "tx/batch")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/msgs, "ns/msg")
			})
		}
	}
}
