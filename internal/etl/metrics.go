package etl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Namespace is the CloudWatch namespace of the ETL's metrics.
const Namespace = "CheckoutReports"

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
	metrics := make([]map[string]string, len(jobFigures))
	for i, f := range jobFigures {
		metrics[i] = map[string]string{"Name": f.name, "Unit": "Count"}
	}
	for _, j := range s.Jobs {
		line := map[string]any{
			"_aws": map[string]any{
				"Timestamp": at.UnixMilli(),
				"CloudWatchMetrics": []map[string]any{{
					"Namespace":  Namespace,
					"Dimensions": [][]string{{"FunctionName", "Job"}, {"FunctionName"}},
					"Metrics":    metrics,
				}},
			},
			"FunctionName": function,
			"Job":          string(j.Job),
		}
		for _, f := range jobFigures {
			line[f.name] = f.value(j)
		}
		b, err := json.Marshal(line)
		if err != nil {
			return fmt.Errorf("marshal metrics: %w", err)
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	return nil
}
