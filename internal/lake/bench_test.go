package lake_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/acmecheckout/reports/internal/bench"
	"github.com/acmecheckout/reports/internal/lake"
	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/testenv"
)

// benchRows is the size of the series, as internal/warehouse's BenchmarkUpsert.
const benchRows = 100_000

// BenchmarkLakeUpsert loads the same 100,000 equities rows as the PostgreSQL
// BenchmarkUpsert (one ticker, all 12 value columns, 274 years: 274 objects)
// into a lake on an in-process gofakes3 server, through the SDK over HTTP,
// and reports rows/s, comparable with the warehouse's figure:
//
//	go test -run '^$' -bench LakeUpsert -benchtime 1x ./internal/lake/
func BenchmarkLakeUpsert(b *testing.B) {
	testenv.GoFakeS3(b, bucket)
	ctx := context.Background()
	batch, err := markets.Layout(bench.EquitiesSeries(benchRows))
	if err != nil {
		b.Fatal(err)
	}
	run := 0
	fresh := func(b *testing.B) *lake.Lake { // an empty lake: a new prefix
		b.Helper()
		run++
		l, err := lake.Open(ctx, fmt.Sprintf("s3://%s/bench-%d", bucket, run))
		if err != nil {
			b.Fatal(err)
		}
		return l
	}
	upsert := func(b *testing.B, l *lake.Lake, want int) {
		b.Helper()
		if n, err := l.Upsert(ctx, batch); err != nil || n != want {
			b.Fatalf("Upsert = %d, %v; want %d rows", n, err, want)
		}
	}

	b.Run("new-rows", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			l := fresh(b)
			b.StartTimer()
			upsert(b, l, benchRows)
		}
		reportRows(b)
	})
	b.Run("unchanged-rows", func(b *testing.B) {
		l := fresh(b)
		upsert(b, l, benchRows)
		b.ResetTimer()
		for range b.N {
			upsert(b, l, 0)
		}
		reportRows(b)
	})
}

// reportRows reports the rate of benchRows rows per iteration.
func reportRows(b *testing.B) {
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
