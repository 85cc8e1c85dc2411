// Package bench holds the cross-cutting cost and speed benchmarks of the
// purchase reports and the markets ETL (see BENCHMARKS.md), the naive
// original design they are compared with, and the table `make bench` prints
// from `go test -bench` output.
//
// The benchmarks report their figures with testing.B.ReportMetric in the
// units the table reads (events/s, cpu-ms/batch, wu/event, floor-wu/event,
// ms/coldstart, MB); Rows says which benchmark and unit feed each figure,
// with its naive counterpart and its target.
package bench

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Results are the figures of a `go test -bench` run: per benchmark name
// (without the "Benchmark" prefix and the -GOMAXPROCS suffix), per unit.
type Results struct {
	// Figures maps "Name/sub" to unit to value.
	Figures map[string]map[string]float64
	// Context holds the header lines go test prints (goos, goarch, cpu).
	Context map[string]string
	// Failures are the lines reporting a failed test or benchmark.
	Failures []string
	// Skips are the benchmarks that were skipped (e.g. no PostgreSQL).
	Skips []string
}

var (
	procsSuffix = regexp.MustCompile(`-\d+$`)
	skipLine    = regexp.MustCompile(`^\s*--- SKIP: Benchmark(\S+)`)
	// figuresLine is the tail of a benchmark result: iterations, then value
	// and unit pairs.
	figuresLine = regexp.MustCompile(`^\s*\d+(\s+[-+0-9.eE]+\s+\S+)+\s*$`)
)

// ParseResults reads `go test -bench` output. Lines it does not know are
// ignored; a benchmark run more than once (-count) keeps its last figures.
func ParseResults(r io.Reader) (Results, error) {
	res := Results{Figures: map[string]map[string]float64{}, Context: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	// pending is a benchmark whose name line had no figures: go test prints
	// the name before running it, so a line the benchmark logs lands between
	// the name and its figures, which then follow on a line of their own.
	var pending string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Benchmark"):
			name, figures, ok := parseBenchLine(line)
			if ok {
				res.Figures[name] = figures
				pending = ""
			} else {
				pending = benchName(strings.Fields(line)[0])
			}
		case pending != "" && figuresLine.MatchString(line):
			if _, figures, ok := parseBenchLine("Benchmark" + pending + " " + line); ok {
				res.Figures[pending] = figures
				pending = ""
			}
		case strings.HasPrefix(line, "--- FAIL") || strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "panic:"):
			res.Failures = append(res.Failures, line)
		case skipLine.MatchString(line):
			res.Skips = append(res.Skips, procsSuffix.ReplaceAllString(skipLine.FindStringSubmatch(line)[1], ""))
		default:
			for _, k := range []string{"goos", "goarch", "cpu"} {
				if v, ok := strings.CutPrefix(line, k+": "); ok {
					res.Context[k] = v
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("read benchmark output: %w", err)
	}
	return res, nil
}

// parseBenchLine reads "BenchmarkName-2  <N>  <value> <unit>  <value> <unit>...".
func parseBenchLine(line string) (string, map[string]float64, bool) {
	fields := strings.Fields(line)
	if len(fields) < 4 || len(fields)%2 != 0 {
		return "", nil, false
	}
	if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
		return "", nil, false
	}
	name := benchName(fields[0])
	figures := map[string]float64{}
	for i := 2; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return "", nil, false
		}
		figures[fields[i+1]] = v
	}
	return name, figures, true
}

// benchName is a benchmark's name without the "Benchmark" prefix and the
// -GOMAXPROCS suffix.
func benchName(field string) string {
	return procsSuffix.ReplaceAllString(strings.TrimPrefix(field, "Benchmark"), "")
}

// Get returns a benchmark's figure in unit.
func (r Results) Get(ref Ref) (float64, bool) {
	v, ok := r.Figures[ref.Bench][ref.Unit]
	return v, ok
}

// skipped reports whether the benchmark, or one of its parents, was skipped.
func (r Results) skipped(ref Ref) bool {
	for _, s := range r.Skips {
		if ref.Bench == s || strings.HasPrefix(ref.Bench, s+"/") {
			return true
		}
	}
	return false
}
