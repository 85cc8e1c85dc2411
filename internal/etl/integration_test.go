package etl_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmecheckout/reports/internal/etl"
	"github.com/acmecheckout/reports/internal/fred"
	"github.com/acmecheckout/reports/internal/fred/fredtest"
	"github.com/acmecheckout/reports/internal/golden"
	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/quandl"
	"github.com/acmecheckout/reports/internal/quandl/quandltest"
	"github.com/acmecheckout/reports/internal/testenv"
	"github.com/acmecheckout/reports/internal/warehouse"
	"github.com/acmecheckout/reports/internal/webapi"
)

// The integration tests run the ETL on the real parts: a scratch PostgreSQL
// database and the Quandl and FRED clients against their recorded-shape
// replay servers. (cmd/etl's tests add KMS and the process around them.)

const (
	quandlKey = "qk-9d8c7b6a5f4e3d2c1b0a"
	fredKey   = "0123456789abcdef0123456789abcdef"
)

// stack is the App on the real parts.
type stack struct {
	quandl *quandltest.Server
	fred   *fredtest.Server
	dsn    string
	logs   *lockedBuffer
	now    time.Time
	app    *etl.App
}

// newStack wires cat to a fresh warehouse and both replay servers, with the
// clock at now.
func newStack(t *testing.T, cat markets.Catalog, now time.Time) *stack {
	t.Helper()
	s := &stack{quandl: quandltest.NewServer(t, quandlKey), fred: fredtest.NewServer(t, fredKey), dsn: testenv.Postgres(t), logs: &lockedBuffer{}, now: now}
	logger := slog.New(slog.NewJSONHandler(s.logs, nil))
	// No rate limits: the tests make many small pages (webapi's tests and
	// cmd/etl's show the limits).
	fast := []webapi.Option{webapi.WithRetry(3, time.Millisecond, 5*time.Millisecond), webapi.WithLimits(), webapi.WithLogger(logger)}
	app, err := etl.NewApp(etl.Config{
		Catalog: cat,
		Connect: func(ctx context.Context) (etl.Backend, error) {
			wh, err := warehouse.Open(ctx, s.dsn)
			if err != nil {
				return etl.Backend{}, err
			}
			if err := wh.Migrate(ctx); err != nil {
				wh.Close()
				return etl.Backend{}, err
			}
			q, err := quandl.New(s.quandl.BaseURL, quandlKey, fast...)
			if err != nil {
				return etl.Backend{}, err
			}
			f, err := fred.New(s.fred.BaseURL, fredKey, fast...)
			if err != nil {
				return etl.Backend{}, err
			}
			return etl.Backend{
				Sources: map[markets.Source]etl.Fetcher{markets.SourceQuandl: q, markets.SourceQuandlTable: q, markets.SourceFRED: f},
				Sinks:   []etl.Sink{wh}, Close: wh.Close,
			}, nil
		},
		Logger: logger,
		Now:    func() time.Time { return s.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	s.app = app
	return s
}

func (s *stack) handle(t *testing.T, event string) (etl.Summary, error) {
	t.Helper()
	return s.app.Handle(context.Background(), json.RawMessage(event))
}

// query returns the rows of sql, each row's columns joined by spaces (NULL
// as NULL), the rows joined by "; ".
func (s *stack) query(t *testing.T, sql string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		var cells []string
		for _, v := range vals {
			cells = append(cells, cell(v))
		}
		out = append(out, strings.Join(cells, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "; ")
}

func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return v.Format(time.DateOnly)
	case string:
		return v
	}
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

// tableCounts returns "table=rows ..." of the dw tables.
func (s *stack) tableCounts(t *testing.T) string {
	t.Helper()
	return s.query(t, `SELECT concat_ws(' ',
		'markets='||(SELECT count(*) FROM dw.markets), 'currency='||(SELECT count(*) FROM dw.currency),
		'economics='||(SELECT count(*) FROM dw.economics), 'equities='||(SELECT count(*) FROM dw.equities),
		'interest_rates='||(SELECT count(*) FROM dw.interest_rates), 'real_estate='||(SELECT count(*) FROM dw.real_estate))`)
}

func mustCatalog(t *testing.T, path string) markets.Catalog {
	t.Helper()
	if path == "" {
		c, err := markets.DefaultCatalog()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := markets.ParseCatalog(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDefaultCatalogEndToEnd runs the catalog of SPEC §5 over several
// invocations of one process: a series not found and one retired, a re-run,
// an upstream revision, an answer missing a column, and an incremental run
// after a gap.
func TestDefaultCatalogEndToEnd(t *testing.T) {
	s := newStack(t, mustCatalog(t, ""), time.Date(2017, 12, 7, 21, 0, 0, 0, time.FixedZone("EST", -5*3600)))
	s.quandl.Queue("WIKI/FB", quandltest.Response{Status: 404, Body: s.quandl.ErrorBody(t, "QECx02")})
	s.quandl.Retire("USTREASURY/LONGTERMRATES")

	// 1. Defaults: all jobs to today UTC (2017-12-08, though it is still
	// the 7th in New York), each series never loaded over the default
	// window (7 days, real estate 90). WIKI/FB is not found, LONGTERMRATES
	// retired; every other series still loads; quarterly GDP and monthly
	// M1 have nothing in the week yet and are stale.
	sum, err := s.handle(t, `{}`)
	if err == nil || !strings.HasPrefix(err.Error(), "markets etl: 2 of 14 series did not load (1 retired, 1 not_found): WIKI/FB: not_found: fetch quandl WIKI/FB") ||
		!strings.Contains(err.Error(), "USTREASURY/LONGTERMRATES: retired: fetch quandl USTREASURY/LONGTERMRATES 2017-12-02..2017-12-08: quandl: HTTP 410: Gone") {
		t.Fatalf("error = %v", err)
	}
	golden.JSON(t, "testdata/summary_default_first.json", sum)
	const loaded = "markets=12 currency=10 economics=7 equities=15 interest_rates=65 real_estate=3"
	if got := s.tableCounts(t); got != loaded {
		t.Errorf("tables: %s\nwant    %s", got, loaded)
	}

	// 2. The same again: each series now starts from its newest stored
	// date minus 7 days; nothing changes; the retired series is asked
	// again (the catalog still lists it) and fails again; FB is back.
	sum, err = s.handle(t, ``)
	if err == nil || sum.Retired != 1 || sum.NotFound != 0 {
		t.Fatalf("re-run: %v, %+v", err, sum)
	}
	golden.JSON(t, "testdata/summary_default_rerun.json", sum)

	// 3. An upstream revision updates its row, and only it; a value gone
	// upstream (null) is NULL.
	s.quandl.SetValue(t, "CURRFX/EURUSD", "2017-12-07", "Rate", "1.17945")
	s.quandl.SetValue(t, "CURRFX/EURUSD", "2017-12-05", "High (est)", "null")
	sum, err = s.handle(t, `{"jobs": ["currency"], "startDate": "2017-12-02", "endDate": "2017-12-08"}`)
	if err != nil {
		t.Fatal(err)
	}
	if sum.RowsWritten != 2 || sum.Jobs[0].RowsFetched != 10 {
		t.Errorf("revision: %d rows written of %d fetched, want 2 of 10", sum.RowsWritten, sum.Jobs[0].RowsFetched)
	}
	if got := s.query(t, `SELECT rate::text, coalesce(high_est::text, 'NULL'), currency FROM dw.currency WHERE ticker = 'EURUSD' AND date IN ('2017-12-05', '2017-12-07') ORDER BY date`); got != "1.1578 NULL EUR; 1.17945 1.162 EUR" {
		t.Errorf("EURUSD = %s, want the revision kept exactly", got)
	}

	// 4. An answer that lacks a column (High and Low) leaves the stored
	// values of that column alone: it does not null them.
	s.quandl.Queue("CURRFX/GBPUSD", quandltest.Response{Status: 200,
		Body: `{"dataset_data":{"column_names":["Date","Rate"],"data":[["2017-12-08",1.3401],["2017-12-07",1.3465]],"order":"asc"}}`})
	before := s.query(t, `SELECT high_est, low_est FROM dw.currency WHERE ticker = 'GBPUSD' AND date = '2017-12-07'`)
	sum, err = s.handle(t, `{"jobs": ["currency"], "startDate": "2017-12-07", "endDate": "2017-12-08"}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.query(t, `SELECT rate, high_est, low_est FROM dw.currency WHERE ticker = 'GBPUSD' AND date = '2017-12-07'`); got != "1.3465 "+before || strings.Contains(before, "NULL") {
		t.Errorf("GBPUSD 2017-12-07 = %s, want rate 1.3465 with high and low kept (%s)", got, before)
	}

	// 5. Five weeks later (no run in between): each series loads from its
	// newest stored date minus 7 days, closing the gap by itself.
	before5 := len(s.quandl.Requests())
	s.now = time.Date(2018, 1, 12, 12, 0, 0, 0, time.UTC)
	sum, _ = s.handle(t, `{"jobs": ["currency", "real_estate"]}`)
	var asked []string
	for _, r := range s.quandl.Requests()[before5:] {
		asked = append(asked, r.Dataset+" "+r.StartDate+".."+r.EndDate)
	}
	slices.Sort(asked)
	if got := strings.Join(asked, ", "); got != "CURRFX/EURUSD 2017-12-01..2018-01-12, CURRFX/GBPUSD 2017-12-01..2018-01-12, ZILLOW/Z94108_ZHVIAH 2017-11-23..2018-01-12" {
		t.Errorf("after the gap asked for %s", got)
	}
	// The recordings end in 2017: five weeks on, the daily series are
	// stale (a WARN, not a failure); real estate (70 days) is not yet.
	if !sum.OK || sum.Stale != 2 || sum.Jobs[1].Tickers[0].Status != etl.StatusOK {
		t.Errorf("after the gap: %+v", sum)
	}
	if !strings.Contains(s.logs.String(), `"level":"WARN","msg":"series is stale"`) {
		t.Error("stale series were not logged at WARN")
	}
}

// TestMaintainedCatalogEndToEnd runs catalogs/maintained.json: FRED series
// mapped onto the currency, economics and interest rate tables, and Tables
// API series (over several cursor pages) onto equities and real estate.
func TestMaintainedCatalogEndToEnd(t *testing.T) {
	s := newStack(t, mustCatalog(t, filepath.Join("..", "..", "catalogs", "maintained.json")), time.Date(2025, 1, 10, 12, 0, 0, 0, time.UTC))
	s.quandl.SetPageSize(3)
	s.fred.SetPageSize(20)
	sum, err := s.handle(t, `{"startDate": "2024-06-01", "endDate": "2025-01-10"}`)
	if err != nil {
		t.Fatal(err)
	}
	golden.JSON(t, "testdata/summary_maintained.json", sum)
	if !sum.OK || sum.Stale != 0 {
		t.Errorf("summary: %+v", sum)
	}
	for _, c := range []struct{ name, sql, want string }{
		{"currency from FRED, . as NULL", `SELECT dataset, ticker, currency, date, rate, high_est, low_est FROM dw.currency WHERE date IN ('2024-12-24', '2024-12-25') ORDER BY ticker, date`,
			"FRED DEXUSEU EUR 2024-12-24 1.0520 NULL NULL; FRED DEXUSEU EUR 2024-12-25 NULL NULL NULL; FRED DEXUSUK GBP 2024-12-24 1.2640 NULL NULL; FRED DEXUSUK GBP 2024-12-25 NULL NULL NULL"},
		{"economics", `SELECT ticker, max(date), count(*) FROM dw.economics GROUP BY ticker ORDER BY ticker`,
			"DFF 2025-01-08 69; GDP 2024-07-01 1; M1SL 2024-11-01 6; UNRATE 2024-12-01 7"},
		{"the treasury curve, one key per FRED series", `SELECT string_agg(key || '=' || coalesce(value::text, 'NULL'), ' ' ORDER BY ticker) FROM dw.interest_rates WHERE date = '2025-01-02'`,
			"1_yr=4.13 10_yr=4.63 1_mo=4.37 2_yr=4.22 20_yr=4.90 2_mo=4.33 3_yr=4.28 30_yr=4.86 3_mo=4.31 5_yr=4.40 6_mo=4.22 7_yr=4.51"},
		{"equities from a Tables API price table, columns mapped", `SELECT dataset, ticker, date, close, ex_dividend, split_ratio, adj_close FROM dw.equities WHERE ticker = 'META' AND date = '2024-12-31'`,
			"QUOTEMEDIA META 2024-12-31 590.1 0.5 1.0 590.1"},
		{"real estate with constants", `SELECT dataset, ticker, date, value, area_category, indicator_code, area FROM dw.real_estate ORDER BY date DESC LIMIT 1`,
			"ZILLOW ZALL_102001 2024-12-31 353683.02 country ZALL 102001"},
		{"dw.markets lists every series", `SELECT count(*), count(*) FILTER (WHERE description LIKE '%subscription%') FROM dw.markets`, "23 4"},
	} {
		if got := s.query(t, c.sql); got != c.want {
			t.Errorf("%s:\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
	var pages int
	for _, r := range s.quandl.Requests() {
		if r.Dataset == "ZILLOW/DATA" {
			pages++
		}
	}
	if pages != 3 {
		t.Errorf("ZILLOW/DATA took %d requests, want 3 cursor pages (7 months by 3)", pages)
	}

	// A re-run changes nothing.
	sum, err = s.handle(t, `{"startDate": "2024-06-01", "endDate": "2025-01-10"}`)
	if err != nil || sum.RowsWritten != 0 {
		t.Errorf("re-run: %d rows written (%v), want 0", sum.RowsWritten, err)
	}
}
