package purchase_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/acmecheckout/reports/internal/purchase"
)

// realisticBodies returns n purchase event bodies shaped as the checkout
// system sends them, over 300 merchants, all brackets and methods.
func realisticBodies(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	methods := purchase.Methods()
	out := make([][]byte, n)
	for i := range out {
		m := r.IntN(300)
		out[i] = fmt.Appendf(nil, `{"date": "2011-12-%02dT%02d:%02d:%02d.%03dZ", "amount": %d, "paymentMethod": %q, "merchantId": "%08x-787b-4543-9def-ea18eef7902e"}`,
			1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000), r.Int64N(100000), methods[r.IntN(3)], m)
	}
	return out
}

// BenchmarkParseBucket measures parse + validate + bucket into the five
// datapoints, per event; events/s/core is reported as a metric.
func BenchmarkParseBucket(b *testing.B) {
	bodies := realisticBodies(4096)
	b.ReportAllocs()
	b.ResetTimer()
	var sink int
	for i := 0; i < b.N; i++ {
		e, err := purchase.Parse(bodies[i%len(bodies)])
		if err != nil {
			b.Fatal(err)
		}
		sink += len(e.Datapoints()[4].Key)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	_ = sink
}

// BenchmarkParseBucketAggregate adds pre-aggregation into Increments, as the
// handler does for a batch.
func BenchmarkParseBucketAggregate(b *testing.B) {
	bodies := realisticBodies(4096)
	b.ReportAllocs()
	b.ResetTimer()
	c := purchase.Increments{}
	for i := 0; i < b.N; i++ {
		e, err := purchase.Parse(bodies[i%len(bodies)])
		if err != nil {
			b.Fatal(err)
		}
		c.Add(e)
		if len(c) > 50000 {
			c = purchase.Increments{}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
