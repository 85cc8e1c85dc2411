// Command bench turns `go test -bench` output on standard input into the
// table of cost and speed figures of BENCHMARKS.md: each figure with its
// floor, the naive design's figure, the gain, and the target. It copies its
// input to standard error as it reads it, and exits 1 if a test or benchmark
// failed. `make bench` runs it.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/acmecheckout/reports/internal/bench"
)

func main() {
	res, err := bench.ParseResults(io.TeeReader(os.Stdin, os.Stderr))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Println()
	if err := bench.Render(os.Stdout, bench.Evaluate(bench.Rows(), res)); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if len(res.Failures) > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d failure lines in the benchmark output, first: %s\n", len(res.Failures), res.Failures[0])
		os.Exit(1)
	}
}
