package aggregator

import (
	"log/slog"

	"github.com/acmecheckout/reports/internal/emf"
)

// Namespace is the CloudWatch namespace of the aggregator's metrics.
const Namespace = emf.Namespace

// figure is one number a batch reports: its name in the summary (log and
// JSON), its EMF metric and unit, and where it lives in a Summary (an int or
// a float64 field).
type figure struct {
	name, metric, unit string
	int                func(*Summary) *int
	float              func(*Summary) *float64
}

// figures declares every figure of a Summary once: they drive Summary.Add,
// the summary log line and the EMF line.
var figures = []figure{
	{name: "messages", metric: "Messages", unit: emf.Count, int: func(s *Summary) *int { return &s.Messages }},
	{name: "valid", metric: "Valid", unit: emf.Count, int: func(s *Summary) *int { return &s.Valid }},
	{name: "invalid", metric: "Invalid", unit: emf.Count, int: func(s *Summary) *int { return &s.Invalid }},
	{name: "deadLettered", metric: "DeadLettered", unit: emf.Count, int: func(s *Summary) *int { return &s.DeadLettered }},
	{name: "counted", metric: "Counted", unit: emf.Count, int: func(s *Summary) *int { return &s.Counted }},
	{name: "duplicates", metric: "Duplicates", unit: emf.Count, int: func(s *Summary) *int { return &s.Duplicates }},
	{name: "failed", metric: "Failed", unit: emf.Count, int: func(s *Summary) *int { return &s.Failed }},
	{name: "datapoints", metric: "Datapoints", unit: emf.Count, int: func(s *Summary) *int { return &s.Datapoints }},
	{name: "transactions", metric: "Transactions", unit: emf.Count, int: func(s *Summary) *int { return &s.Transactions }},
	{name: "writeUnits", metric: "WriteUnits", unit: emf.Count, float: func(s *Summary) *float64 { return &s.WriteUnits }},
	{name: "requestRetries", metric: "RequestRetries", unit: emf.Count, int: func(s *Summary) *int { return &s.RequestRetries }},
	{name: "conflictRetries", metric: "ConflictRetries", unit: emf.Count, int: func(s *Summary) *int { return &s.ConflictRetries }},
	{name: "durationMs", metric: "Duration", unit: emf.Milliseconds, float: func(s *Summary) *float64 { return &s.DurationMS }},
}

// value returns the figure's value in s.
func (f figure) value(s *Summary) float64 {
	if f.int != nil {
		return float64(*f.int(s))
	}
	return *f.float(s)
}

// add adds the figure's value in o to s.
func (f figure) add(s, o *Summary) {
	if f.int != nil {
		*f.int(s) += *f.int(o)
		return
	}
	*f.float(s) += *f.float(o)
}

// attr is the figure of s as a log attribute.
func (f figure) attr(s *Summary) slog.Attr {
	if f.int != nil {
		return slog.Int(f.name, *f.int(s))
	}
	return slog.Float64(f.name, *f.float(s))
}

// metrics declares the EMF metrics of a batch, in the order of figures.
func metrics() []emf.Metric {
	out := make([]emf.Metric, len(figures))
	for i, f := range figures {
		out[i] = emf.Metric{Name: f.metric, Unit: f.unit}
	}
	return out
}

// MetricNames returns the names of the metrics the aggregator emits per
// batch, in namespace Namespace with dimension FunctionName.
func MetricNames() []string { return emf.Names(metrics()) }

// Add adds the figures of o to s.
func (s *Summary) Add(o Summary) {
	for _, f := range figures {
		f.add(s, &o)
	}
}

// attrs returns the figures of s as log attributes.
func (s *Summary) attrs() []slog.Attr {
	out := make([]slog.Attr, 0, len(figures)+3)
	for _, f := range figures {
		out = append(out, f.attr(s))
	}
	return out
}

// metricValues returns the figures of s in the order of metrics().
func (s *Summary) metricValues() []float64 {
	out := make([]float64, len(figures))
	for i, f := range figures {
		out[i] = f.value(s)
	}
	return out
}
