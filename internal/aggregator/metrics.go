package aggregator

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Namespace is the CloudWatch namespace of the aggregator's metrics.
const Namespace = "CheckoutReports"

// emfMetrics declares the metrics of one EMF line, in the order of Summary.
var emfMetrics = []emfMetric{
	{"Messages", "Count"}, {"Valid", "Count"}, {"Invalid", "Count"}, {"DeadLettered", "Count"},
	{"Counted", "Count"}, {"Duplicates", "Count"}, {"Datapoints", "Count"}, {"Transactions", "Count"},
	{"Retries", "Count"}, {"Failed", "Count"}, {"Duration", "Milliseconds"},
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetadata struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// emfLine is one CloudWatch Embedded Metric Format log line: metadata under
// _aws, then the dimension and metric values as top-level members.
type emfLine struct {
	AWS          emfMetadata `json:"_aws"`
	FunctionName string      `json:"FunctionName"`
	Messages     int         `json:"Messages"`
	Valid        int         `json:"Valid"`
	Invalid      int         `json:"Invalid"`
	DeadLettered int         `json:"DeadLettered"`
	Counted      int         `json:"Counted"`
	Duplicates   int         `json:"Duplicates"`
	Datapoints   int         `json:"Datapoints"`
	Transactions int         `json:"Transactions"`
	Retries      int         `json:"Retries"`
	Failed       int         `json:"Failed"`
	Duration     float64     `json:"Duration"`
}

// WriteEMF writes s as one CloudWatch Embedded Metric Format JSON line to w:
// namespace CheckoutReports, dimension FunctionName, one metric per figure
// (Duration in milliseconds, the others counts).
func WriteEMF(w io.Writer, function string, at time.Time, s Summary) error {
	line := emfLine{
		AWS: emfMetadata{
			Timestamp: at.UnixMilli(),
			CloudWatchMetrics: []emfDirective{{
				Namespace:  Namespace,
				Dimensions: [][]string{{"FunctionName"}},
				Metrics:    emfMetrics,
			}},
		},
		FunctionName: function,
		Messages:     s.Messages,
		Valid:        s.Valid,
		Invalid:      s.Invalid,
		DeadLettered: s.DeadLettered,
		Counted:      s.Counted,
		Duplicates:   s.Duplicates,
		Datapoints:   s.Datapoints,
		Transactions: s.Transactions,
		Retries:      s.Retries,
		Failed:       s.Failed,
		Duration:     s.DurationMS,
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("marshal metrics: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}
