// Package emf writes CloudWatch Embedded Metric Format lines: one JSON object
// per line whose _aws member declares the namespace, dimension sets and
// metrics, and whose top-level members hold the dimension and metric values.
// CloudWatch Logs turns each line of a Lambda function's output into metric
// datapoints, with no API call.
package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Units of the metrics we emit.
const (
	Count        = "Count"
	Milliseconds = "Milliseconds"
)

// Namespace is the CloudWatch namespace of every metric this project emits.
const Namespace = "CheckoutReports"

// Metric declares one metric of a line.
type Metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// Writer writes EMF lines of one shape: a namespace, dimension sets and
// metrics fixed at construction, values given per line.
type Writer struct {
	out        io.Writer
	namespace  string
	dimensions [][]string
	metrics    []Metric
}

// New returns a Writer of lines to out declaring metrics in namespace, keyed
// by each of the dimension sets (each a list of dimension names).
func New(out io.Writer, namespace string, dimensions [][]string, metrics []Metric) *Writer {
	return &Writer{out: out, namespace: namespace, dimensions: dimensions, metrics: metrics}
}

// Write writes one line dated at: the dimension values by name, and the
// metric values in the order of the Writer's metrics.
func (w *Writer) Write(at time.Time, dimensions map[string]string, values []float64) error {
	if len(values) != len(w.metrics) {
		return fmt.Errorf("write metrics: %d values for %d metrics", len(values), len(w.metrics))
	}
	line := make(map[string]any, 1+len(dimensions)+len(values))
	line["_aws"] = map[string]any{
		"Timestamp": at.UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  w.namespace,
			"Dimensions": w.dimensions,
			"Metrics":    w.metrics,
		}},
	}
	for name, value := range dimensions {
		line[name] = value
	}
	for i, m := range w.metrics {
		line[m.Name] = values[i]
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("marshal metrics: %w", err)
	}
	if _, err := w.out.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}

// Names returns the names of metrics, in order.
func Names(metrics []Metric) []string {
	names := make([]string, len(metrics))
	for i, m := range metrics {
		names[i] = m.Name
	}
	return names
}
