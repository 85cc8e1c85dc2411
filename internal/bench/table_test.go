package bench_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/bench"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestParseResults reads recorded `go test -bench` output.
func TestParseResults(t *testing.T) {
	res := mustResults(t, "testdata/bench.txt")
	for _, tc := range []struct {
		ref  bench.Ref
		want float64
	}{
		{bench.Ref{Bench: "HandlerCPU/no-io/ours", Unit: "cpu-ms/batch"}, 14.37},
		{bench.Ref{Bench: "HandlerCPU/no-io/ours", Unit: "allocs/op"}, 20070},
		{bench.Ref{Bench: "WriteUnits/exactly-once/batch=100/ours", Unit: "bound-wu/event"}, 5.323},
		{bench.Ref{Bench: "BinarySize/etl/ours", Unit: "MB"}, 13.24},
		// A log line between a benchmark's name and its figures.
		{bench.Ref{Bench: "WriteUnits/exactly-once/batch=100/naive", Unit: "wu/event"}, 12},
	} {
		t.Run(tc.ref.Bench+" "+tc.ref.Unit, func(t *testing.T) {
			got, ok := res.Get(tc.ref)
			if !ok || got != tc.want {
				t.Errorf("got %v (found %t), want %v", got, ok, tc.want)
			}
		})
	}
	if res.Context["cpu"] != "AMD EPYC" || len(res.Failures) != 0 || len(res.Skips) != 1 || res.Skips[0] != "Upsert" {
		t.Errorf("context %v, failures %q, skips %q", res.Context, res.Failures, res.Skips)
	}
}

// TestParseResultsFailure sees a failed benchmark and a failed build.
func TestParseResultsFailure(t *testing.T) {
	out := "--- FAIL: BenchmarkHandlerCPU\n    x_test.go:1: boom\nFAIL\texample.com/x [build failed]\n"
	res, err := bench.ParseResults(strings.NewReader(out))
	if err != nil || len(res.Failures) != 2 {
		t.Errorf("failures %q, err %v; want 2 failure lines", res.Failures, err)
	}
}

// TestRender compares the table of recorded output with its golden file:
// met, missed (over the floor, over a maximum), not measured and skipped.
func TestRender(t *testing.T) {
	res := mustResults(t, "testdata/bench.txt")
	var b strings.Builder
	if err := bench.Render(&b, bench.Evaluate(bench.Rows(), res)); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/table.golden.md"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("table differs from %s (go test -run TestRender -update):\n%s", golden, b.String())
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{1_071_570.4, "1,071,570"},
		{1000, "1,000"},
		{210.6, "211"},
		{14.37, "14.4"},
		{3.419, "3.42"},
		{0, "0.00"},
		{0.03733, "0.0373"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := bench.Format(tc.in); got != tc.want {
				t.Errorf("Format(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func mustResults(t *testing.T, path string) bench.Results {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := bench.ParseResults(f)
	if err != nil {
		t.Fatal(err)
	}
	return res
}
