package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/goformation/v7/cloudformation/cloudwatch"

	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/etl"
	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/purchase"
)

// How the dashboard and the alarms are checked.
//
// Every metric a widget or an alarm shows is either one the functions emit
// (EMF, namespace CheckoutReports: the ETL's as etl.WriteEMF writes them, the
// aggregator's as its handler writes them for a batch) with the function's
// own name and, for the ETL's per-job series, a job the template schedules; or one AWS publishes
// (awsPublished) for a resource of the stack, named by its dimension. The
// dashboard body is the Fn::Sub of the template, substituted as
// CloudFormation would (a resource shows as <Id> or <Id.Attr>, a parameter as
// its value), then parsed as JSON.

// awsMetrics are metrics AWS publishes for one kind of resource, with the one
// dimension that names the resource and the template's Ref or Fn::GetAtt
// attribute ("" for the Ref) that gives its value.
type awsMetrics struct {
	resourceType, dimension, attribute string
	names                              []string
}

// awsPublished are the AWS namespaces the dashboard and alarms may use, by
// namespace: only metrics whose single dimension names a resource of the stack.
var awsPublished = map[string]awsMetrics{
	"AWS/SQS": {"AWS::SQS::Queue", "QueueName", "QueueName", []string{
		"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible",
		"ApproximateNumberOfMessagesDelayed", "ApproximateAgeOfOldestMessage",
		"NumberOfMessagesSent", "NumberOfMessagesReceived", "NumberOfMessagesDeleted",
		"NumberOfEmptyReceives", "SentMessageSize",
	}},
	"AWS/Lambda": {"AWS::Serverless::Function", "FunctionName", "", []string{
		"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions",
		"AsyncEventsReceived", "AsyncEventAge", "AsyncEventsDropped",
		"UrlRequestCount", "UrlRequestLatency", "Url4xxCount", "Url5xxCount",
	}},
	"AWS/DynamoDB": {"AWS::DynamoDB::Table", "TableName", "", []string{
		"ConsumedWriteCapacityUnits", "ConsumedReadCapacityUnits",
		"WriteThrottleEvents", "ReadThrottleEvents", "TransactionConflict",
	}},
}

// metricRef is one metric as a widget or alarm names it: dimension values
// resolved as CloudFormation would, resources shown as <Id> or <Id.Attr>.
type metricRef struct {
	namespace, name string
	dimensions      map[string]string
}

func (m metricRef) String() string {
	var dims []string
	for _, k := range sorted(m.dimensions) {
		dims = append(dims, k+"="+m.dimensions[k])
	}
	return m.namespace + " " + m.name + " " + strings.Join(dims, ",")
}

// emitter is what one function writes as EMF: its namespace, dimension sets
// and metric names.
type emitter struct {
	function   string // logical id of the function
	namespace  string
	dimensions [][]string // each set sorted
	names      []string
}

// emitted returns what the aggregator and the ETL write as EMF, captured from
// the aggregator's handler after an empty batch and from the ETL's writer.
func emitted(t *testing.T) []emitter {
	t.Helper()
	var agg, etlOut bytes.Buffer
	at := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	h := aggregator.New(noCounter{}, aggregator.WithMetrics(&agg, "fn"), aggregator.WithLogger(slog.New(slog.DiscardHandler)))
	h.Process(t.Context(), nil)
	if err := etl.WriteEMF(&etlOut, "fn", at, etl.Summary{Jobs: []etl.JobSummary{{Job: markets.Equities}}}); err != nil {
		t.Fatal(err)
	}
	a := mustParseEMF(t, agg.Bytes())
	a.function = "AggregatorFunction"
	e := mustParseEMF(t, etlOut.Bytes())
	e.function = "EtlFunction"
	return []emitter{a, e}
}

// mustParseEMF reads the one EMF line a writer wrote: its single directive
// under _aws.CloudWatchMetrics.
func mustParseEMF(t *testing.T, out []byte) emitter {
	t.Helper()
	var line struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &line); err != nil {
		t.Fatalf("EMF line %s: %v", out, err)
	}
	if n := len(line.AWS.CloudWatchMetrics); n != 1 {
		t.Fatalf("EMF line %s: %d directives, want 1", out, n)
	}
	d := line.AWS.CloudWatchMetrics[0]
	em := emitter{namespace: d.Namespace}
	for _, set := range d.Dimensions {
		em.dimensions = append(em.dimensions, slices.Sorted(slices.Values(set)))
	}
	for _, m := range d.Metrics {
		em.names = append(em.names, m.Name)
	}
	return em
}

// scheduledJobs returns the ETL jobs the template's schedules run.
func scheduledJobs(t *testing.T, s *stack) []string {
	t.Helper()
	seen := map[string]bool{}
	for key, sc := range s.schedules {
		var in struct{ Jobs []string }
		if sc.Input == nil || json.Unmarshal([]byte(*sc.Input), &in) != nil || len(in.Jobs) == 0 {
			t.Fatalf("%s: Input %s is not {\"jobs\": [...]}", key, show(sc.Input))
		}
		for _, j := range in.Jobs {
			seen[j] = true
		}
	}
	return sorted(seen)
}

// metricChecker tells whether a metric is one the stack's code emits or AWS
// publishes for one of its resources.
type metricChecker struct {
	emitters []emitter
	jobs     []string
	// resources holds, per awsPublished namespace, the dimension values that
	// name the stack's resources (<Id> or <Id.Attr>).
	resources map[string][]string
}

func newMetricChecker(t *testing.T, s *stack) *metricChecker {
	t.Helper()
	c := &metricChecker{emitters: emitted(t), jobs: scheduledJobs(t, s), resources: map[string][]string{}}
	resources, _ := s.doc["Resources"].(map[string]any)
	for ns, p := range awsPublished {
		for _, id := range sorted(resources) {
			res, _ := resources[id].(map[string]any)
			if res["Type"] != p.resourceType {
				continue
			}
			name := "<" + id + ">"
			if p.attribute != "" {
				name = "<" + id + "." + p.attribute + ">"
			}
			c.resources[ns] = append(c.resources[ns], name)
		}
	}
	return c
}

// check returns why m is neither emitted nor published for the stack, or nil.
func (c *metricChecker) check(m metricRef) error {
	if p, ok := awsPublished[m.namespace]; ok {
		if !slices.Contains(p.names, m.name) {
			return fmt.Errorf("%s: not a metric of %s this test knows AWS publishes per %s", m, m.namespace, p.dimension)
		}
		if len(m.dimensions) != 1 || !slices.Contains(c.resources[m.namespace], m.dimensions[p.dimension]) {
			return fmt.Errorf("%s: want the single dimension %s naming one of the stack's %s %v", m, p.dimension, p.resourceType, c.resources[m.namespace])
		}
		return nil
	}
	keys := sorted(m.dimensions)
	for _, e := range c.emitters {
		if e.namespace != m.namespace || !slices.Contains(e.names, m.name) ||
			!slices.ContainsFunc(e.dimensions, func(set []string) bool { return slices.Equal(set, keys) }) {
			continue
		}
		if fn := m.dimensions["FunctionName"]; fn != "<"+e.function+">" {
			return fmt.Errorf("%s: FunctionName %s, want %s's name <%s>", m, fn, m.name, e.function)
		}
		if job, ok := m.dimensions["Job"]; ok && !slices.Contains(c.jobs, job) {
			return fmt.Errorf("%s: job %q is none of the scheduled jobs %v", m, job, c.jobs)
		}
		return nil
	}
	return fmt.Errorf("%s: no function of the stack emits it with exactly these dimensions", m)
}

// dashboardWidget is one widget of the dashboard body.
type dashboardWidget struct {
	Type                string
	X, Y, Width, Height int
	Properties          struct {
		Title   string
		Region  string
		Metrics [][]any
		Alarms  []string
	}
}

// mustDashboard returns the widgets of the template's one dashboard, whose
// body must be a Fn::Sub of a string (so it names the stack's real queues,
// functions and region), named after the stack.
func mustDashboard(t *testing.T, s *stack) []dashboardWidget {
	t.Helper()
	if n := len(s.tpl.GetAllCloudWatchDashboardResources()); n != 1 {
		t.Fatalf("%d dashboards, want 1", n)
	}
	d, err := s.tpl.GetCloudWatchDashboardWithName("OperationsDashboard")
	if err != nil {
		t.Fatal(err)
	}
	if name := s.resolve(t, ptrString(d.DashboardName)); name != "<AWS::StackName>-operations" {
		t.Errorf("DashboardName %s, want <stack>-operations", name)
	}
	mustSub(t, d.DashboardBody)
	body := s.resolve(t, d.DashboardBody)
	var parsed struct{ Widgets []dashboardWidget }
	if err := json.Unmarshal([]byte(body), &parsed); err != nil {
		t.Fatalf("DashboardBody is not JSON once substituted: %v\n%s", err, body)
	}
	return parsed.Widgets
}

// widgetMetrics returns the metrics of a metric widget. Each entry must be
// written out in full (namespace, name, dimension pairs, then optional
// rendering options): no "." or "..." shorthand, no math expressions.
func widgetMetrics(t *testing.T, w dashboardWidget) []metricRef {
	t.Helper()
	var out []metricRef
	for _, entry := range w.Properties.Metrics {
		var parts []string
		for i, v := range entry {
			switch v := v.(type) {
			case string:
				parts = append(parts, v)
			case map[string]any:
				if i != len(entry)-1 || v["expression"] != nil {
					t.Errorf("widget %q: %v: options only last, and no expressions", w.Properties.Title, entry)
				}
			default:
				t.Errorf("widget %q: %v: %v is not a string", w.Properties.Title, entry, v)
			}
		}
		if len(parts) < 2 || len(parts)%2 != 0 || slices.Contains(parts, ".") || slices.Contains(parts, "...") {
			t.Errorf("widget %q: %v: want namespace, metric name and dimension name-value pairs, written out", w.Properties.Title, entry)
			continue
		}
		m := metricRef{namespace: parts[0], name: parts[1], dimensions: map[string]string{}}
		for i := 2; i < len(parts); i += 2 {
			m.dimensions[parts[i]] = parts[i+1]
		}
		out = append(out, m)
	}
	return out
}

func TestDashboard(t *testing.T) {
	s := mustLoad(t, nil)
	c := newMetricChecker(t, s)
	widgets := mustDashboard(t, s)
	shown := map[string]bool{}
	var alarmsShown []string
	for i, w := range widgets {
		switch w.Type {
		case "text":
		case "alarm":
			alarmsShown = append(alarmsShown, w.Properties.Alarms...)
		case "metric":
			if w.Properties.Region != "<AWS::Region>" {
				t.Errorf("widget %q: region %q, want the stack's ${AWS::Region}", w.Properties.Title, w.Properties.Region)
			}
			if w.Properties.Title == "" {
				t.Errorf("widget %d has no title", i)
			}
			for _, m := range widgetMetrics(t, w) {
				if err := c.check(m); err != nil {
					t.Errorf("widget %q: %v", w.Properties.Title, err)
				}
				shown[m.String()] = true
			}
		default:
			t.Errorf("widget %d: type %q, want text, alarm or metric", i, w.Type)
		}
	}

	var alarms []string
	for _, id := range sorted(s.tpl.GetAllCloudWatchAlarmResources()) {
		alarms = append(alarms, "<"+id+".Arn>")
	}
	if !slices.Equal(slices.Sorted(slices.Values(alarmsShown)), alarms) {
		t.Errorf("the alarm widgets show %v, want every alarm of the template once: %v", alarmsShown, alarms)
	}

	for _, want := range issueMetrics(t, c) {
		if !shown[want.String()] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
	assertNoOverlap(t, widgets)
}

// issueMetrics are the metrics the dashboard must show (issue 12): queue
// depth and oldest age, DLQ depth, counted, invalid, duplicates, failed,
// write units, transaction conflicts, Lambda errors, duration and
// concurrency of each function, and every figure the ETL emits per job.
func issueMetrics(t *testing.T, c *metricChecker) []metricRef {
	t.Helper()
	var out []metricRef
	for _, q := range []string{"<PurchasesQueue.QueueName>", "<DeadLetterQueue.QueueName>"} {
		for _, name := range []string{"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"} {
			out = append(out, metricRef{"AWS/SQS", name, map[string]string{"QueueName": q}})
		}
	}
	for _, name := range []string{"Counted", "Invalid", "Duplicates", "Failed", "WriteUnits", "ConflictRetries"} {
		out = append(out, metricRef{aggregator.Namespace, name, map[string]string{"FunctionName": "<AggregatorFunction>"}})
	}
	for _, fn := range []string{"<AggregatorFunction>", "<EtlFunction>", "<ApiFunction>"} {
		for _, name := range []string{"Errors", "Duration", "ConcurrentExecutions"} {
			out = append(out, metricRef{"AWS/Lambda", name, map[string]string{"FunctionName": fn}})
		}
	}
	var etlEmitter emitter
	for _, e := range c.emitters {
		if e.function == "EtlFunction" {
			etlEmitter = e
		}
	}
	if len(etlEmitter.names) == 0 {
		t.Fatal("the ETL emits no metric")
	}
	for _, job := range c.jobs {
		for _, name := range etlEmitter.names {
			out = append(out, metricRef{etl.Namespace, name, map[string]string{"FunctionName": "<EtlFunction>", "Job": job}})
		}
	}
	return out
}

// assertNoOverlap checks the widgets fit the dashboard's 24 columns and do
// not cover each other.
func assertNoOverlap(t *testing.T, widgets []dashboardWidget) {
	t.Helper()
	for i, a := range widgets {
		if a.X < 0 || a.Y < 0 || a.Width < 1 || a.Height < 1 || a.X+a.Width > 24 {
			t.Errorf("widget %d (%q) at x %d y %d, %dx%d: outside the 24 columns", i, a.Properties.Title, a.X, a.Y, a.Width, a.Height)
		}
		for j, b := range widgets[:i] {
			if a.X < b.X+b.Width && b.X < a.X+a.Width && a.Y < b.Y+b.Height && b.Y < a.Y+a.Height {
				t.Errorf("widgets %d (%q) and %d (%q) overlap", j, b.Properties.Title, i, a.Properties.Title)
			}
		}
	}
}

// expressionIDs are the lower-case identifiers of a metric math expression
// (CloudWatch ids start lower-case; its functions are upper-case).
var expressionIDs = regexp.MustCompile(`\b[a-z][A-Za-z0-9_]*\b`)

// alarmMetrics returns the metrics an alarm evaluates, resolved, and checks a
// metric math alarm: its expressions use only its own ids, and exactly one
// query returns data.
func alarmMetrics(t *testing.T, s *stack, id string, a *cloudwatch.Alarm) []metricRef {
	t.Helper()
	ref := func(ns, name *string, dims []cloudwatch.Alarm_Dimension) metricRef {
		m := metricRef{namespace: ptrString(ns), name: ptrString(name), dimensions: map[string]string{}}
		for _, d := range dims {
			m.dimensions[d.Name] = s.resolve(t, d.Value)
		}
		return m
	}
	if a.MetricName != nil {
		if len(a.Metrics) > 0 {
			t.Errorf("%s has both MetricName and Metrics", id)
		}
		return []metricRef{ref(a.Namespace, a.MetricName, a.Dimensions)}
	}
	var out []metricRef
	ids := map[string]bool{}
	returned := 0
	for _, q := range a.Metrics {
		ids[q.Id] = true
		if q.ReturnData == nil || *q.ReturnData {
			returned++
		}
		if q.MetricStat != nil && q.MetricStat.Metric != nil {
			out = append(out, ref(q.MetricStat.Metric.Namespace, q.MetricStat.Metric.MetricName, q.MetricStat.Metric.Dimensions))
		}
	}
	for _, q := range a.Metrics {
		if q.Expression == nil {
			continue
		}
		for _, used := range expressionIDs.FindAllString(*q.Expression, -1) {
			if !ids[used] {
				t.Errorf("%s: expression %q uses %s, which is none of its metrics", id, *q.Expression, used)
			}
		}
	}
	if returned != 1 {
		t.Errorf("%s: %d metrics return data, want 1", id, returned)
	}
	if len(out) == 0 {
		t.Errorf("%s evaluates no metric", id)
	}
	return out
}

func TestAlarmsWatchEmittedOrPublishedMetrics(t *testing.T) {
	s := mustLoad(t, nil)
	c := newMetricChecker(t, s)
	alarms := s.tpl.GetAllCloudWatchAlarmResources()
	for _, id := range sorted(alarms) {
		for _, m := range alarmMetrics(t, s, id, alarms[id]) {
			if err := c.check(m); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}
	}
}

// TestTransactionConflictsAlarm checks the alarm's threshold follows its
// parameter (TestAlarms checks the rest, as for every single-metric alarm).
func TestTransactionConflictsAlarm(t *testing.T) {
	for _, threshold := range []float64{100, 25} {
		params := map[string]any{}
		if threshold != 100 {
			params["TransactionConflictsAlarmThreshold"] = threshold
		}
		s := mustLoad(t, params)
		a, err := s.tpl.GetCloudWatchAlarmWithName("TransactionConflictsAlarm")
		if err != nil {
			t.Fatal(err)
		}
		got := alarmMetrics(t, s, "TransactionConflictsAlarm", a)
		want := metricRef{aggregator.Namespace, "ConflictRetries", map[string]string{"FunctionName": "<AggregatorFunction>"}}
		if len(got) != 1 || got[0].String() != want.String() {
			t.Errorf("metrics %v, want %v", got, want)
		}
		if ptrString(a.Statistic) != "Sum" || a.Period == nil || *a.Period != 300 || a.EvaluationPeriods != 1 {
			t.Errorf("Statistic %s Period %s EvaluationPeriods %d, want Sum over one 300 s period", show(a.Statistic), show(a.Period), a.EvaluationPeriods)
		}
		if a.Threshold == nil || *a.Threshold != threshold || a.ComparisonOperator != "GreaterThanThreshold" {
			t.Errorf("%s %s, want GreaterThanThreshold %v (TransactionConflictsAlarmThreshold)", a.ComparisonOperator, show(a.Threshold), threshold)
		}
		if ptrString(a.TreatMissingData) != "notBreaching" {
			t.Errorf("TreatMissingData %s, want notBreaching", show(a.TreatMissingData))
		}
	}
}

// TestEtlSeriesAlarms checks there is one alarm per scheduled job on the
// sum of its stale and retired series, and that these are the template's
// only metric math alarms (TestAlarms checks the single-metric ones).
func TestEtlSeriesAlarms(t *testing.T) {
	s := mustLoad(t, nil)
	jobs := scheduledJobs(t, s)
	alarms := s.tpl.GetAllCloudWatchAlarmResources()
	byJob := map[string]string{}
	for _, id := range sorted(alarms) {
		a := alarms[id]
		if a.MetricName != nil {
			continue
		}
		got := alarmMetrics(t, s, id, a)
		if len(got) != 2 {
			t.Errorf("%s evaluates %v, want a job's SeriesStale and SeriesRetired", id, got)
			continue
		}
		job := got[0].dimensions["Job"]
		byJob[job] = id
		var names []string
		for _, m := range got {
			want := map[string]string{"FunctionName": "<EtlFunction>", "Job": job}
			if m.namespace != etl.Namespace || !maps.Equal(m.dimensions, want) {
				t.Errorf("%s: %s, want namespace %s and dimensions %v", id, m, etl.Namespace, want)
			}
			names = append(names, m.name)
		}
		if slices.Sort(names); !slices.Equal(names, []string{"SeriesRetired", "SeriesStale"}) {
			t.Errorf("%s evaluates %v, want SeriesRetired and SeriesStale", id, names)
		}
		for _, q := range a.Metrics {
			if q.MetricStat != nil && (q.MetricStat.Stat != "Maximum" || q.MetricStat.Period != 3600) {
				t.Errorf("%s: %s: %s over %d s, want Maximum over 3600 s", id, q.Id, q.MetricStat.Stat, q.MetricStat.Period)
			}
			if q.Expression != nil && *q.Expression != "stale + retired" {
				t.Errorf("%s: expression %q, want stale + retired", id, *q.Expression)
			}
		}
		if a.Threshold == nil || *a.Threshold != 0 || a.ComparisonOperator != "GreaterThanThreshold" || a.EvaluationPeriods != 1 {
			t.Errorf("%s: %s %s over %d periods, want GreaterThanThreshold 0 over 1", id, a.ComparisonOperator, show(a.Threshold), a.EvaluationPeriods)
		}
		// A job runs daily or every few days: the alarm keeps its state until the next run.
		if ptrString(a.TreatMissingData) != "ignore" {
			t.Errorf("%s: TreatMissingData %s, want ignore", id, show(a.TreatMissingData))
		}
		assertAlarmActions(t, id, func(p map[string]any) *cloudwatch.Alarm {
			a, err := mustLoad(t, p).tpl.GetCloudWatchAlarmWithName(id)
			if err != nil {
				t.Fatal(err)
			}
			return a
		})
	}
	if !slices.Equal(sorted(byJob), jobs) {
		t.Errorf("series alarms for jobs %v, want one for each scheduled job %v", sorted(byJob), jobs)
	}
}

// assertAlarmActions checks an alarm notifies AlarmTopicArn of alarms and
// recoveries when it is set, and nobody when it is not.
func assertAlarmActions(t *testing.T, id string, load func(params map[string]any) *cloudwatch.Alarm) {
	t.Helper()
	const topic = "arn:aws:sns:eu-west-1:123456789012:oncall"
	a := load(map[string]any{"AlarmTopicArn": topic})
	if !slices.Equal(a.AlarmActions, []string{topic}) || !slices.Equal(a.OKActions, []string{topic}) {
		t.Errorf("%s: AlarmActions %s OKActions %s, want the AlarmTopicArn parameter", id, show(a.AlarmActions), show(a.OKActions))
	}
	if b := load(nil); len(b.AlarmActions)+len(b.OKActions) != 0 {
		t.Errorf("%s without a topic: AlarmActions %s OKActions %s, want none", id, show(b.AlarmActions), show(b.OKActions))
	}
}

// noCounter is a purchase.Counter with nothing to count.
type noCounter struct{}

func (noCounter) Add(context.Context, []purchase.Delivery) (purchase.AddResult, error) {
	return purchase.AddResult{}, nil
}
