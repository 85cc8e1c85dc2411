package purchase_test

import (
	"testing"

	"github.com/acmecheckout/reports/internal/bench"
)

// BenchmarkParseBucketNaive is BenchmarkParseBucket for the original design
// (bench.NaiveParse: encoding/json, time.Parse, a regexp, fmt keys), on the
// same bodies, for the side-by-side figures of `make bench`.
func BenchmarkParseBucketNaive(b *testing.B) {
	bodies := realisticBodies(4096)
	b.ReportAllocs()
	b.ResetTimer()
	var sink int
	for i := 0; i < b.N; i++ {
		dps, err := bench.NaiveParse(bodies[i%len(bodies)])
		if err != nil {
			b.Fatal(err)
		}
		sink += len(dps[4].Key)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	_ = sink
}
