package bench

import "fmt"

// Rows are the figures of issues 5 and 10, in the order of BENCHMARKS.md, each with
// the benchmark that measures it, its naive counterpart and its target.
func Rows() []Row {
	rows := []Row{
		{
			Figure: "parse + validate + bucket", Unit: "events/s/core",
			Ours:   Ref{"ParseBucket", "events/s"},
			Naive:  Ref{"ParseBucketNaive", "events/s"},
			Better: HigherIsBetter, Target: Target{AtLeast, 1_000_000},
		},
		{
			Figure: "parse + validate + bucket", Unit: "allocs/event",
			Ours:  Ref{"ParseBucket", "allocs/op"},
			Naive: Ref{"ParseBucketNaive", "allocs/op"},
		},
		{
			Figure: "handler, 10,000-msg batch, no I/O", Unit: "cpu-ms/batch",
			Ours:   Ref{"HandlerCPU/no-io/ours", "cpu-ms/batch"},
			Naive:  Ref{"HandlerCPU/no-io/naive", "cpu-ms/batch"},
			Target: Target{AtMost, 50},
		},
		{
			Figure: "handler, 10,000-msg batch, no I/O", Unit: "allocs/batch",
			Ours:  Ref{"HandlerCPU/no-io/ours", "allocs/op"},
			Naive: Ref{"HandlerCPU/no-io/naive", "allocs/op"},
		},
		{
			Figure: "handler + SDK plain, 10,000 msgs", Unit: "cpu-ms/batch",
			Ours:  Ref{"HandlerCPU/sdk-plain/ours", "cpu-ms/batch"},
			Naive: Ref{"HandlerCPU/sdk-plain/naive", "cpu-ms/batch"},
		},
		{
			Figure: "handler + SDK exactly-once, 10,000 msgs", Unit: "cpu-ms/batch",
			Ours:  Ref{"HandlerCPU/sdk-exactly-once/ours", "cpu-ms/batch"},
			Naive: Ref{"HandlerCPU/sdk-exactly-once/naive", "cpu-ms/batch"},
		},
		{
			Figure: "SQS event JSON decode (runtime), 10,000 msgs", Unit: "cpu-ms/batch",
			Ours: Ref{"HandlerCPU/event-decode", "cpu-ms/batch"},
		},
	}
	for _, mode := range []string{"plain", "exactly-once"} {
		target := Target{AtMostTimesFloor, 1.03}
		if mode == "exactly-once" {
			target.Value = 1.05
		}
		for _, size := range []int{10, 100} {
			name := fmt.Sprintf("WriteUnits/%s/batch=%d/", mode, size)
			rows = append(rows, Row{
				Figure: fmt.Sprintf("DynamoDB writes, %s, batch %d", mode, size), Unit: "wu/event",
				Ours:   Ref{name + "ours", "wu/event"},
				Floor:  Ref{name + "ours", "floor-wu/event"},
				Naive:  Ref{name + "naive", "wu/event"},
				Target: target,
			})
		}
	}
	rows = append(rows, Row{
		Figure: "DynamoDB writes, exactly-once, batch 100, vs 1-tx bound", Unit: "wu/event",
		Ours:  Ref{"WriteUnits/exactly-once/batch=100/ours", "wu/event"},
		Floor: Ref{"WriteUnits/exactly-once/batch=100/ours", "bound-wu/event"},
	})
	rows = append(rows, scaleRows()...)
	for _, fn := range []string{"aggregator", "etl"} {
		rows = append(rows, Row{
			Figure: "cold start, " + fn, Unit: "ms",
			Ours:   Ref{"ColdStart/" + fn + "/ours", "ms/coldstart"},
			Naive:  Ref{"ColdStart/" + fn + "/naive", "ms/coldstart"},
			Target: Target{AtMost, 20},
		})
	}
	for _, fn := range []string{"aggregator", "etl"} {
		rows = append(rows, Row{
			Figure: "arm64 bootstrap size, " + fn, Unit: "MB",
			Ours:   Ref{"BinarySize/" + fn + "/ours", "MB"},
			Naive:  Ref{"BinarySize/" + fn + "/naive", "MB"},
			Target: Target{AtMost, 12},
		})
	}
	// The read API in process (internal/api): the handler and its store's
	// round trips to the emulator or PostgreSQL, beside the naive answer (a
	// Scan of the datapoints table, a read of the job's whole table).
	for _, route := range []struct{ name, bench string }{
		{"read API, one-day report (day-merchant)", "ReadAPI/report-day/"},
		{"read API, /api/currency/latest", "ReadAPI/currency-latest/"},
	} {
		for _, u := range []struct{ shown, reported string }{{"p50 ms", "p50-ms"}, {"p99 ms", "p99-ms"}, {"allocs/req", "allocs/op"}} {
			row := Row{
				Figure: route.name, Unit: u.shown,
				Ours:  Ref{route.bench + "ours", u.reported},
				Naive: Ref{route.bench + "naive", u.reported},
			}
			if u.reported == "p50-ms" {
				// A keyed read must beat reading everything by far (the
				// emulator's own latency bounds the report's gain).
				row.Target = Target{GainAtLeast, 5}
			}
			rows = append(rows, row)
		}
	}
	return append(rows,
		Row{
			Figure: "ETL upsert, 100,000 new rows", Unit: "rows/s",
			Ours:   Ref{"Upsert/batched/new-rows", "rows/s"},
			Naive:  Ref{"Upsert/row-by-row/new-rows", "rows/s"},
			Better: HigherIsBetter, Target: Target{GainAtLeast, 20},
		},
		Row{
			Figure: "ETL upsert, 100,000 unchanged rows", Unit: "rows/s",
			Ours:   Ref{"Upsert/batched/unchanged-rows", "rows/s"},
			Better: HigherIsBetter,
		},
		// The same rows into the lake (S3 on an in-process gofakes3, 274 yearly objects).
		Row{
			Figure: "lake upsert, 100,000 new rows", Unit: "rows/s",
			Ours:   Ref{"LakeUpsert/new-rows", "rows/s"},
			Better: HigherIsBetter,
		},
		Row{
			Figure: "lake upsert, 100,000 unchanged rows", Unit: "rows/s",
			Ours:   Ref{"LakeUpsert/unchanged-rows", "rows/s"},
			Better: HigherIsBetter,
		},
	)
}

// scaleRows are the figures of issue 14 (BenchmarkScale, batch 100): events/s
// at 1 and 8 concurrent invocations in both modes, exactly-once's gain from 1
// to 8 over plain mode's, and exactly-once's write units per event at 8
// invocations over the design before issue 14 (its "floor" column).
func scaleRows() []Row {
	const at = "Scale/batch=100/"
	var rows []Row
	for _, mode := range []string{"plain", "exactly-once"} {
		for _, n := range []int{1, 8} {
			rows = append(rows, Row{
				Figure: fmt.Sprintf("scale, %s, batch 100, %d invocation(s)", mode, n), Unit: "events/s",
				Ours:   Ref{fmt.Sprintf("%s%s/invocations=%d", at, mode, n), "events/s"},
				Better: HigherIsBetter,
			})
		}
	}
	return append(rows,
		Row{
			Figure: "scale, exactly-once gain 1→8 over plain's, batch 100", Unit: "ratio",
			Ours:   Ref{at + "gain", "eo/plain-gain"},
			Better: HigherIsBetter, Target: Target{AtLeast, 0.75},
		},
		Row{
			Figure: "scale, exactly-once, batch 100, 8 inv., vs before (floor)", Unit: "wu/event",
			Ours:   Ref{at + "exactly-once/invocations=8", "wu/event"},
			Floor:  Ref{at + "exactly-once-before/invocations=8", "wu/event"},
			Target: Target{AtMostTimesFloor, 1.10},
		},
	)
}
