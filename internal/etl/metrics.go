package etl

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/acmecheckout/reports/internal/emf"
)

// Namespace is the CloudWatch namespace of the ETL's metrics.
const Namespace = emf.Namespace

// figure is one number a run reports per job, in its log and as a metric.
type figure struct {
	name  string
	value func(JobSummary) int
}

// jobFigures are the figures of each job, declared once: they drive both the
// job's log line and its EMF metrics. Every figure is a count.
var jobFigures = []figure{
	{"RowsWritten", func(j JobSummary) int { return j.RowsWritten }},
	{"SeriesOK", func(j JobSummary) int { return len(j.Tickers) - j.Stale - j.Failed - j.Retired - j.NotFound }},
	{"SeriesStale", func(j JobSummary) int { return j.Stale }},
	{"SeriesFailed", func(j JobSummary) int { return j.Failed }},
	{"SeriesRetired", func(j JobSummary) int { return j.Retired }},
	{"SeriesNotFound", func(j JobSummary) int { return j.NotFound }},
}

// logJobs logs one line per job of s with its figures.
func logJobs(ctx context.Context, log *slog.Logger, s Summary) {
	for _, j := range s.Jobs {
		attrs := []any{"job", string(j.Job)}
		for _, f := range jobFigures {
			attrs = append(attrs, f.name, f.value(j))
		}
		log.InfoContext(ctx, "job finished", attrs...)
	}
}

// WriteEMF writes the figures of each job of s as CloudWatch Embedded Metric
// Format to w, one JSON line per job: namespace CheckoutReports, dimensions
// (FunctionName, Job) and (FunctionName) alone, so that CloudWatch keeps
// both each job's figures and the function's totals.
func WriteEMF(w io.Writer, function string, at time.Time, s Summary) error {
	metrics := make([]emf.Metric, len(jobFigures))
	for i, f := range jobFigures {
		metrics[i] = emf.Metric{Name: f.name, Unit: emf.Count}
	}
	out := emf.New(w, Namespace, [][]string{{"FunctionName", "Job"}, {"FunctionName"}}, metrics)
	values := make([]float64, len(jobFigures))
	for _, j := range s.Jobs {
		for i, f := range jobFigures {
			values[i] = float64(f.value(j))
		}
		if err := out.Write(at, map[string]string{"FunctionName": function, "Job": string(j.Job)}, values); err != nil {
			return err
		}
	}
	return nil
}
