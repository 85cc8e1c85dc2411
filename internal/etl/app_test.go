package etl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/etl"
	"github.com/acmecheckout/reports/internal/markets"
)

// appFixture is an App on fakes: a FRED-like source, one sink, a clock.
type appFixture struct {
	src      *fakeSource
	sink     *fakeSink
	connects atomic.Int32
	closes   atomic.Int32
	failNext atomic.Bool
	logs     lockedBuffer
	metrics  bytes.Buffer
	app      *etl.App
}

func newAppFixture(t *testing.T, cfg etl.Config) *appFixture {
	t.Helper()
	f := &appFixture{src: newFakeSource(), sink: newFakeSink()}
	if cfg.Catalog.Series == nil {
		cfg.Catalog = catalog(t, markets.Economics, "GDP", "DFF")
	}
	cfg.Connect = func(context.Context) (etl.Backend, error) {
		f.connects.Add(1)
		if f.failNext.Swap(false) {
			return etl.Backend{}, errors.New("open warehouse: connect to database: connection refused")
		}
		return etl.Backend{Sources: map[markets.Source]etl.Fetcher{markets.SourceFRED: f.src}, Sinks: []etl.Sink{f.sink},
			Close: func() { f.closes.Add(1) }}, nil
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(&f.logs, nil))
	cfg.Metrics = &f.metrics
	cfg.FunctionName = "markets-etl"
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Date(2025, 1, 10, 21, 0, 0, 0, time.FixedZone("EST", -5*3600)) }
	}
	app, err := etl.NewApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	f.app = app
	f.src.has("GDP", day(t, "2024-10-01"), day(t, "2024-10-01"))
	f.src.has("DFF", day(t, "2024-01-01"), day(t, "2025-01-11"))
	return f
}

// TestHandleConnectsOnce: the backend is made on the first run and kept;
// a failure to connect is reported and tried again on the next run; Close
// releases it.
func TestHandleConnectsOnce(t *testing.T) {
	f := newAppFixture(t, etl.Config{})
	f.failNext.Store(true)
	if _, err := f.app.Handle(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error = %v, want the connection failure", err)
	}
	for range 3 {
		if _, err := f.app.Handle(context.Background(), json.RawMessage(`{"jobs": ["economics"]}`)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.connects.Load(); n != 2 {
		t.Errorf("connected %d times, want twice: after the failure, then never again", n)
	}
	f.app.Close()
	f.app.Close()
	if n := f.closes.Load(); n != 1 {
		t.Errorf("closed %d times, want once", n)
	}
	if !strings.Contains(f.logs.String(), `"msg":"markets etl could not start"`) {
		t.Error("the failure to connect was not logged")
	}
}

// TestHandleDefaultsAndMetrics: an empty payload runs every job to today
// (UTC: 2025-01-11, though it is still the 10th in New York); each job's
// figures go to one log line and one EMF line, from the same table.
func TestHandleDefaultsAndMetrics(t *testing.T) {
	f := newAppFixture(t, etl.Config{})
	sum, err := f.app.Handle(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Jobs) != 5 || sum.Jobs[1].EndDate.String() != "2025-01-11" || sum.Stale != 1 || !sum.OK {
		t.Fatalf("summary %+v", sum)
	}
	econ := sum.Jobs[1]
	if got := tickerLine(econ.Tickers[0]) + "; " + tickerLine(econ.Tickers[1]); got !=
		"GDP stale 2025-01-05..2025-01-11 newest null fetched 0 written 0; DFF ok 2025-01-05..2025-01-11 newest 2025-01-11 fetched 7 written 7" {
		t.Errorf("economics: %s", got)
	}

	lines := strings.Split(strings.TrimSpace(f.metrics.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d EMF lines, want one per job:\n%s", len(lines), f.metrics.String())
	}
	var emf struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		FunctionName, Job                                                               string
		RowsWritten, SeriesOK, SeriesStale, SeriesFailed, SeriesRetired, SeriesNotFound int
	}
	if err := json.Unmarshal([]byte(lines[1]), &emf); err != nil {
		t.Fatal(err)
	}
	d := emf.AWS.CloudWatchMetrics[0]
	if emf.FunctionName != "markets-etl" || emf.Job != "economics" || d.Namespace != "CheckoutReports" ||
		fmt.Sprint(d.Dimensions) != "[[FunctionName Job] [FunctionName]]" || len(d.Metrics) != 6 ||
		emf.RowsWritten != 7 || emf.SeriesOK != 1 || emf.SeriesStale != 1 || emf.SeriesFailed+emf.SeriesRetired+emf.SeriesNotFound != 0 ||
		emf.AWS.Timestamp != time.Date(2025, 1, 11, 2, 0, 0, 0, time.UTC).UnixMilli() {
		t.Errorf("EMF line %s", lines[1])
	}
	for _, m := range d.Metrics {
		if m.Unit != "Count" || !strings.Contains(lines[1], `"`+m.Name+`":`) {
			t.Errorf("metric %+v has no value or is not a count", m)
		}
	}
	var logged int
	for line := range strings.Lines(f.logs.String()) {
		if strings.Contains(line, `"msg":"job finished"`) && strings.Contains(line, `"job":"economics"`) {
			logged++
			for _, figure := range []string{`"RowsWritten":7`, `"SeriesOK":1`, `"SeriesStale":1`, `"SeriesFailed":0`, `"SeriesRetired":0`, `"SeriesNotFound":0`} {
				if !strings.Contains(line, figure) {
					t.Errorf("job line lacks %s: %s", figure, line)
				}
			}
		}
	}
	if logged != 1 {
		t.Errorf("%d job lines for economics, want 1", logged)
	}
}

// TestHandleRejectsInput checks validation against testdata/invalid_inputs.json
// (each case an event, or a raw payload that is not one JSON document):
// nothing is connected to, fetched or written.
func TestHandleRejectsInput(t *testing.T) {
	f := newAppFixture(t, etl.Config{})
	var cases []struct {
		Event json.RawMessage `json:"event"`
		Raw   string          `json:"raw"`
		Error string          `json:"error"`
	}
	b, err := os.ReadFile(filepath.Join("testdata", "invalid_inputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		payload := []byte(tc.Event)
		if tc.Raw != "" {
			payload = []byte(tc.Raw)
		}
		t.Run(fmt.Sprintf("%d %s", i, payload), func(t *testing.T) {
			_, err := f.app.Invoke(context.Background(), payload)
			if err == nil || err.Error() != tc.Error {
				t.Errorf("error = %v\nwant    %s", err, tc.Error)
			}
		})
	}
	if n := f.connects.Load() + int32(len(f.src.requests())); n != 0 {
		t.Errorf("%d connections and requests for invalid input, want none", n)
	}
}

// TestHandleAnswersBeforeTheDeadline: a run that cannot finish stops a
// margin before the invocation's deadline and still answers, naming the
// series it did not reach.
func TestHandleAnswersBeforeTheDeadline(t *testing.T) {
	codes := []string{"A", "B", "C", "D", "E", "F"}
	f := newAppFixture(t, etl.Config{Catalog: catalog(t, markets.Economics, codes...), Concurrency: 1, DeadlineMargin: 300 * time.Millisecond})
	for _, c := range codes {
		f.src.has(c, day(t, "2024-01-01"), day(t, "2025-01-11"))
	}
	f.src.delay = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	answer, err := f.app.Invoke(ctx, []byte(`{}`))
	if ctx.Err() != nil {
		t.Fatal("the answer came after the deadline")
	}
	if answer != nil || err == nil || !strings.Contains(err.Error(), "failed (deadline)") {
		t.Fatalf("answer %s, error %v; want an error naming the series cut by the deadline", answer, err)
	}
	if !strings.Contains(f.logs.String(), `"reason":"deadline"`) || !strings.Contains(f.metrics.String(), `"SeriesFailed":`) {
		t.Error("the cut-off was not logged and counted")
	}
}

// TestHealthCheck: pinged after a run in which no series failed (stale ones
// allowed), not after a failed one; a failing ping is logged, never
// returned, and the URL's token never appears.
func TestHealthCheck(t *testing.T) {
	const token = "0f3c9a2e-hc-token"
	var pings atomic.Int32
	var fail atomic.Bool
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ping/"+token || fail.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		pings.Add(1)
	}))
	defer health.Close()
	f := newAppFixture(t, etl.Config{HealthcheckURL: health.URL + "/ping/" + token})
	if _, err := f.app.Handle(context.Background(), json.RawMessage(`{"jobs": ["economics"]}`)); err != nil {
		t.Fatal(err)
	}
	f.src.errs["DFF"] = errBoom
	if _, err := f.app.Handle(context.Background(), json.RawMessage(`{"jobs": ["economics"]}`)); err == nil {
		t.Fatal("a failed series did not fail the run")
	}
	if pings.Load() != 1 {
		t.Errorf("%d pings, want 1: after the good run only", pings.Load())
	}
	delete(f.src.errs, "DFF")
	fail.Store(true)
	if _, err := f.app.Handle(context.Background(), json.RawMessage(`{"jobs": ["economics"]}`)); err != nil {
		t.Errorf("a failed ping failed the run: %v", err)
	}
	if !strings.Contains(f.logs.String(), `"msg":"health check ping failed","error":"HTTP 500"`) || strings.Contains(f.logs.String(), token) {
		t.Errorf("logs:\n%s", f.logs.String())
	}
}

func TestNewAppRequires(t *testing.T) {
	if _, err := etl.NewApp(etl.Config{}); err == nil {
		t.Error("NewApp without a catalog and Connect: no error")
	}
}

// TestWriteCatalog: the table `etl catalog check` prints, and its JSON and
// CSV forms.
func TestWriteCatalog(t *testing.T) {
	cat, err := markets.ParseCatalog([]byte(`{"series": [
		{"job": "currency", "source": "fred", "code": "DEXUSEU", "dataset": "FRED", "ticker": "DEXUSEU", "columns": {"value": "rate"}, "constants": {"currency": "EUR"}},
		{"job": "real_estate", "source": "quandl-table", "code": "ZILLOW/DATA", "dataset": "ZILLOW", "ticker": "ZALL_102001", "description": "US ZHVI",
		 "filters": {"indicator_id": "ZALL", "region_id": "102001"}, "constants": {"area_category": "country", "indicator_code": "ZALL", "area": "102001"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	windows, err := etl.Plan(etl.Input{}, day(t, "2025-01-10"))
	if err != nil {
		t.Fatal(err)
	}
	rows := etl.CatalogRows(cat, windows)
	var table, js, csv bytes.Buffer
	for _, w := range []struct {
		format string
		buf    *bytes.Buffer
	}{{etl.FormatTable, &table}, {etl.FormatJSON, &js}, {etl.FormatCSV, &csv}} {
		if err := etl.WriteCatalog(w.buf, w.format, rows); err != nil {
			t.Fatal(err)
		}
	}
	wantTable := `JOB          SOURCE        CODE         DATASET  TICKER       FILTERS                             COLUMNS     CONSTANTS                                              STALE AFTER  WINDOW
currency     fred          DEXUSEU      FRED     DEXUSEU      -                                   value=rate  currency=EUR                                           10d          2025-01-04..2025-01-10 *
real_estate  quandl-table  ZILLOW/DATA  ZILLOW   ZALL_102001  indicator_id=ZALL,region_id=102001  -           area=102001,area_category=country,indicator_code=ZALL  70d          2024-10-13..2025-01-10 *
* a first load's window; a series already stored loads from its newest date minus 7 days
`
	if table.String() != wantTable {
		t.Errorf("table:\n%s\nwant:\n%s", table.String(), wantTable)
	}
	var back []etl.CatalogRow
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back) != 2 || back[1].Start.String() != "2024-10-13" || !back[1].Incremental || back[1].Description != "US ZHVI" {
		t.Errorf("JSON %s (%v)", js.String(), err)
	}
	if lines := strings.Split(strings.TrimSpace(csv.String()), "\n"); len(lines) != 3 ||
		lines[0] != "JOB,SOURCE,CODE,DATASET,TICKER,FILTERS,COLUMNS,CONSTANTS,STALE AFTER,START,END,INCREMENTAL,DESCRIPTION" ||
		lines[1] != "currency,fred,DEXUSEU,FRED,DEXUSEU,-,value=rate,currency=EUR,10d,2025-01-04,2025-01-10,true,DEXUSEU" {
		t.Errorf("CSV:\n%s", csv.String())
	}
	if err := etl.WriteCatalog(&table, "yaml", rows); err == nil || err.Error() != `format "yaml": want table, json or csv` {
		t.Errorf("unknown format: %v", err)
	}
}
