package warehouse_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/testenv"
	"github.com/acmecheckout/reports/internal/warehouse"
)

// upsertCases are one series per job, with what the warehouse must hold
// afterwards. Each case also changes its first row's first value to "42.5"
// and expects changed among the rows, and nothing else different.
var upsertCases = []struct {
	name    string
	series  markets.Series
	order   string // ORDER BY of the read-back
	want    []string
	changed string
}{
	{
		name: "currency",
		series: markets.Series{
			Dataset: markets.Dataset{Job: markets.Currency, Database: "CURRFX", Ticker: "EURUSD", Description: "Currency Exchange Rates : EUR vs USD"},
			Columns: []string{"rate", "high_est", "low_est"},
			Rows: []markets.Row{
				{Date: day(2017, 12, 1), Values: []string{"1.17940000000000000001", "1.1961", ""}},
				{Date: day(2017, 12, 31), Values: []string{"1.2000", "", "1.18"}},
				{Date: day(2018, 1, 1), Values: []string{"", "", ""}},
			},
		},
		order: "date",
		want: []string{
			"CURRFX|EURUSD|EUR|2017-12-01|1.17940000000000000001|1.1961|NULL",
			"CURRFX|EURUSD|EUR|2017-12-31|1.2000|NULL|1.18",
			"CURRFX|EURUSD|EUR|2018-01-01|NULL|NULL|NULL",
		},
		changed: "CURRFX|EURUSD|EUR|2017-12-01|42.5|1.1961|NULL",
	},
	{
		name: "economics",
		series: markets.Series{
			Dataset: markets.Dataset{Job: markets.Economics, Database: "FRED", Ticker: "GDP", Description: "Gross Domestic Product"},
			Columns: []string{"value"},
			Rows: []markets.Row{
				{Date: day(2017, 1, 1), Values: []string{"19057.705"}},
				{Date: day(2017, 4, 1), Values: []string{"19250.009"}},
				{Date: day(2017, 7, 1), Values: []string{"-0.000000000000000000000000000001"}},
				{Date: day(2017, 10, 1), Values: []string{""}},
			},
		},
		order: "date",
		want: []string{
			"FRED|GDP|2017-01-01|19057.705",
			"FRED|GDP|2017-04-01|19250.009",
			"FRED|GDP|2017-07-01|-0.000000000000000000000000000001",
			"FRED|GDP|2017-10-01|NULL",
		},
		changed: "FRED|GDP|2017-01-01|42.5",
	},
	{
		name: "equities",
		series: markets.Series{
			Dataset: markets.Dataset{Job: markets.Equities, Database: "WIKI", Ticker: "FB", Description: "Facebook Inc. (FB) Prices"},
			Columns: []string{"open", "high", "low", "close", "volume", "ex_dividend", "split_ratio", "adj_open", "adj_high", "adj_low", "adj_close", "adj_volume"},
			Rows: []markets.Row{
				{Date: day(2017, 12, 1), Values: []string{"176.03", "176.79", "173.55", "175.1", "19848341.0", "0.0", "1.0", "176.03", "176.79", "173.55", "175.1", "19848341.0"}},
				{Date: day(2017, 12, 4), Values: []string{"176.29", "176.57", "170.79", "171.47", "26768205.0", "0.0", "1.0", "176.29", "176.57", "170.79", "171.47", "26768205.0"}},
			},
		},
		order: "date",
		want: []string{
			"WIKI|FB|2017-12-01|176.03|176.79|173.55|175.1|19848341.0|0.0|1.0|176.03|176.79|173.55|175.1|19848341.0",
			"WIKI|FB|2017-12-04|176.29|176.57|170.79|171.47|26768205.0|0.0|1.0|176.29|176.57|170.79|171.47|26768205.0",
		},
		changed: "WIKI|FB|2017-12-01|42.5|176.79|173.55|175.1|19848341.0|0.0|1.0|176.03|176.79|173.55|175.1|19848341.0",
	},
	{
		name: "equities missing columns are NULL, in any order",
		series: markets.Series{
			Dataset: markets.Dataset{Job: markets.Equities, Database: "WIKI", Ticker: "NVDA", Description: "NVIDIA Corporation (NVDA) Prices"},
			Columns: []string{"close", "open", "adj_volume"},
			Rows: []markets.Row{
				{Date: day(2018, 3, 27), Values: []string{"225.52", "247.61", "23114621"}},
			},
		},
		order: "date",
		want: []string{
			"WIKI|NVDA|2018-03-27|247.61|NULL|NULL|225.52|NULL|NULL|NULL|NULL|NULL|NULL|NULL|23114621",
		},
		changed: "WIKI|NVDA|2018-03-27|247.61|NULL|NULL|42.5|NULL|NULL|NULL|NULL|NULL|NULL|NULL|23114621",
	},
	{
		name: "interest rates keep every column",
		series: markets.Series{
			Dataset: markets.Dataset{Job: markets.InterestRates, Database: "USTREASURY", Ticker: "YIELD", Description: "Treasury Yield Curve Rates"},
			Columns: []string{"1_mo", "3_mo", "10_yr", "30_yr"},
			Rows: []markets.Row{
				{Date: day(2017, 12, 1), Values: []string{"1.14", "1.27", "2.37", "2.76"}},
				{Date: day(2017, 12, 4), Values: []string{"", "1.28", "2.37", "2.770000000000000000001"}},
			},
		},
		order: "date, key",
		want: []string{
			"USTREASURY|YIELD|2017-12-01|10_yr|2.37",
			"USTREASURY|YIELD|2017-12-01|1_mo|1.14",
			"USTREASURY|YIELD|2017-12-01|30_yr|2.76",
			"USTREASURY|YIELD|2017-12-01|3_mo|1.27",
			"USTREASURY|YIELD|2017-12-04|10_yr|2.37",
			"USTREASURY|YIELD|2017-12-04|1_mo|NULL",
			"USTREASURY|YIELD|2017-12-04|30_yr|2.770000000000000000001",
			"USTREASURY|YIELD|2017-12-04|3_mo|1.28",
		},
		changed: "USTREASURY|YIELD|2017-12-01|1_mo|42.5",
	},
	{
		name: "interest rates with odd column names",
		series: markets.Series{
			Dataset: markets.Dataset{Job: markets.InterestRates, Database: "USTREASURY", Ticker: "LONGTERMRATES", Description: "Treasury Long Term Rates"},
			Columns: []string{"lt_composite_>_10_yrs", "treasury_20_yr_cm", "extrapolation_factor"},
			Rows: []markets.Row{
				{Date: day(2017, 12, 29), Values: []string{"2.63", "2.58", ""}},
			},
		},
		order: "date, key",
		want: []string{
			"USTREASURY|LONGTERMRATES|2017-12-29|extrapolation_factor|NULL",
			"USTREASURY|LONGTERMRATES|2017-12-29|lt_composite_>_10_yrs|2.63",
			"USTREASURY|LONGTERMRATES|2017-12-29|treasury_20_yr_cm|2.58",
		},
		changed: "USTREASURY|LONGTERMRATES|2017-12-29|lt_composite_>_10_yrs|42.5",
	},
	{
		name: "real estate",
		series: markets.Series{
			Dataset: markets.Dataset{Job: markets.RealEstate, Database: "ZILLOW", Ticker: "Z94108_ZHVIAH", Description: "Zillow Home Value Index - All Homes - 94108"},
			Columns: []string{"value"},
			Rows: []markets.Row{
				{Date: day(2017, 10, 31), Values: []string{"1191700.0"}},
				{Date: day(2017, 11, 30), Values: []string{"1206200.0"}},
			},
		},
		order: "date",
		want: []string{
			"ZILLOW|Z94108_ZHVIAH|2017-10-31|1191700.0|Z|ZHVIAH|94108",
			"ZILLOW|Z94108_ZHVIAH|2017-11-30|1206200.0|Z|ZHVIAH|94108",
		},
		changed: "ZILLOW|Z94108_ZHVIAH|2017-10-31|42.5|Z|ZHVIAH|94108",
	},
}

// TestUpsert loads each job's series with the database session and Go's local
// time zone set far from UTC, both ways, and checks what the tables hold.
func TestUpsert(t *testing.T) {
	for _, zone := range []string{"UTC", "Pacific/Auckland", "America/Los_Angeles"} {
		t.Run(zone, func(t *testing.T) {
			setLocalZone(t, zone)
			url := testenv.Postgres(t)
			admin := mustConn(t, url)
			db := mustQuery(t, admin, "SELECT current_database()")[0]
			mustExec(t, admin, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" SET timezone = "+quote(zone))
			conn := mustConn(t, url) // new sessions start in the zone
			if got := mustQuery(t, conn, "SHOW timezone"); got[0] != zone {
				t.Fatalf("session time zone %s, want %s", got[0], zone)
			}
			w := mustOpen(t, url)
			if err := w.Migrate(context.Background()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}

			for i, tc := range upsertCases {
				t.Run(tc.name, func(t *testing.T) {
					s := tc.series
					ds := s.Dataset
					read := "SELECT * FROM dw." + string(ds.Job) + " WHERE dataset = $1 AND ticker = $2 ORDER BY " + tc.order
					xmins := "SELECT xmin FROM dw." + string(ds.Job) + " WHERE dataset = $1 AND ticker = $2 ORDER BY " + tc.order

					n := mustUpsert(t, w, s)
					if n != len(tc.want) {
						t.Errorf("%d: Upsert wrote %d rows, want %d", i, n, len(tc.want))
					}
					if got := mustQuery(t, conn, read, ds.Database, ds.Ticker); !slices.Equal(got, tc.want) {
						t.Errorf("%d: %s holds\n%s\nwant\n%s", i, ds.Job, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
					}
					wantMarket := []string{ds.Database + "|" + ds.Ticker + "|" + ds.Description}
					if got := mustQuery(t, conn, "SELECT * FROM dw.markets WHERE dataset = $1 AND ticker = $2", ds.Database, ds.Ticker); !slices.Equal(got, wantMarket) {
						t.Errorf("%d: dw.markets holds %q, want %q", i, got, wantMarket)
					}

					// The same window again rewrites nothing.
					before := mustQuery(t, conn, xmins, ds.Database, ds.Ticker)
					if n := mustUpsert(t, w, s); n != 0 {
						t.Errorf("%d: re-run wrote %d rows, want 0", i, n)
					}
					if after := mustQuery(t, conn, xmins, ds.Database, ds.Ticker); !slices.Equal(after, before) {
						t.Errorf("%d: re-run rewrote rows: xmin %q, was %q", i, after, before)
					}

					// A value changed upstream updates its row, and only it.
					s.Rows = slices.Clone(s.Rows)
					s.Rows[0].Values = slices.Clone(s.Rows[0].Values)
					s.Rows[0].Values[0] = "42.5"
					if n := mustUpsert(t, w, s); n != 1 {
						t.Errorf("%d: changed value wrote %d rows, want 1", i, n)
					}
					got := mustQuery(t, conn, read, ds.Database, ds.Ticker)
					if len(got) != len(tc.want) || !slices.Contains(got, tc.changed) {
						t.Errorf("%d: after the change %s holds\n%s\nwant %d rows including\n%s", i, ds.Job, strings.Join(got, "\n"), len(tc.want), tc.changed)
					}
				})
			}
		})
	}
}

func TestUpsertKeepsDescriptionCurrent(t *testing.T) {
	w, conn := mustMigrated(t)
	s := markets.Series{Dataset: markets.Dataset{Job: markets.Economics, Database: "FRED", Ticker: "M1", Description: "M1 Money Stock"}, Columns: []string{"value"}}
	if n := mustUpsert(t, w, s); n != 0 {
		t.Errorf("empty series wrote %d rows, want 0", n)
	}
	s.Dataset.Description = "M1 Money Stock (weekly)"
	mustUpsert(t, w, s)
	want := []string{"FRED|M1|M1 Money Stock (weekly)"}
	if got := mustQuery(t, conn, "SELECT * FROM dw.markets"); !slices.Equal(got, want) {
		t.Errorf("dw.markets holds %q, want %q", got, want)
	}
}

func TestUpsertAcceptsEveryDecimalForm(t *testing.T) {
	w, conn := mustMigrated(t)
	values := []string{"2.5e-05", "1E+3", "+1", "-0", ".5", "5.", "0.10"}
	want := []string{"0.000025", "1000", "1", "0", "0.5", "5", "0.10"}
	s := markets.Series{Dataset: markets.Dataset{Job: markets.Economics, Database: "FRED", Ticker: "DFF", Description: "Effective Federal Funds Rate"}, Columns: []string{"value"}}
	for i, v := range values {
		s.Rows = append(s.Rows, markets.Row{Date: day(2017, 12, 1+i), Values: []string{v}})
	}
	if n := mustUpsert(t, w, s); n != len(values) {
		t.Errorf("Upsert wrote %d rows, want %d", n, len(values))
	}
	if got := mustQuery(t, conn, "SELECT value FROM dw.economics ORDER BY date"); !slices.Equal(got, want) {
		t.Errorf("dw.economics values %q, want %q", got, want)
	}
}

func TestUpsertRejectsBadSeriesAndWritesNothing(t *testing.T) {
	w, conn := mustMigrated(t)
	fb := markets.Dataset{Job: markets.Equities, Database: "WIKI", Ticker: "FB", Description: "Facebook"}
	series := func(columns []string, rows ...markets.Row) markets.Series {
		return markets.Series{Dataset: fb, Columns: columns, Rows: rows}
	}
	good := markets.Row{Date: day(2017, 12, 1), Values: []string{"176.03", "175.1"}}
	row := func(values ...string) markets.Row { return markets.Row{Date: day(2017, 12, 4), Values: values} }
	oc := []string{"open", "close"}

	testCases := []struct {
		name    string
		series  markets.Series
		wantErr string
	}{
		{"unknown column", series([]string{"open", "adj_foo"}, good), `invalid series: WIKI/FB: column "adj_foo" is not a value column of equities`},
		{"repeated column", series([]string{"open", "open"}, good), `invalid series: WIKI/FB: column "open": empty or repeated`},
		{"too few values", series(oc, good, row("1")), "invalid series: WIKI/FB: date 2017-12-04: 1 values for 2 columns"},
		{"too many values", series(oc, good, row("1", "2", "3")), "invalid series: WIKI/FB: date 2017-12-04: 3 values for 2 columns"},
		{"thousands separator", series(oc, good, row("1,234.5", "2")), `invalid series: WIKI/FB: date 2017-12-04 column open: "1,234.5" is not a decimal number`},
		{"NaN", series(oc, good, row("1", "NaN")), `column close: "NaN" is not a decimal number`},
		{"spaces", series(oc, good, row(" 1", "2")), `column open: " 1" is not a decimal number`},
		{"bare exponent", series(oc, good, row("1e", "2")), `column open: "1e" is not a decimal number`},
		{"duplicate date", series(oc, good, good), "invalid series: WIKI/FB: date 2017-12-01 appears twice"},
		{"not a calendar date", series(oc, markets.Row{Date: markets.Date{Year: 2017, Month: 2, Day: 30}, Values: []string{"1", "2"}}), "date 2017-02-30 is not a valid calendar date"},
		{"zero date", series(oc, markets.Row{Values: []string{"1", "2"}}), "is not a valid calendar date"},
		{"numeric overflow in the database", series(oc, good, row("1e999999", "2")), "upsert WIKI/FB: dw.equities: ERROR: value overflows numeric format"},
		{"unknown job", markets.Series{Dataset: markets.Dataset{Job: "crypto", Database: "GDAX", Ticker: "BTC"}}, `invalid series: GDAX/BTC: unknown job "crypto"`},
		{"no ticker", markets.Series{Dataset: markets.Dataset{Job: markets.Economics, Database: "FRED"}}, "invalid series: FRED/: dataset needs a database and a ticker"},
		{"bad zillow code", markets.Series{Dataset: markets.Dataset{Job: markets.RealEstate, Database: "ZILLOW", Ticker: "ZHVIAH"}, Columns: []string{"value"}}, `invalid series: ZILLOW/ZHVIAH: zillow code "ZHVIAH"`},
	}
	for i, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := upsertSeries(context.Background(), w, tc.series)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%d: Upsert error = %v, want one containing %q", i, err, tc.wantErr)
			}
			if n != 0 {
				t.Errorf("%d: Upsert on error returned %d rows, want 0", i, n)
			}
			for _, table := range []string{"markets", "equities", "economics", "real_estate"} {
				if got := mustQuery(t, conn, "SELECT count(*) FROM dw."+table); got[0] != "0" {
					t.Errorf("%d: dw.%s has %s rows after a rejected series, want none", i, table, got[0])
				}
			}
		})
	}
}

func day(y int, m time.Month, d int) markets.Date { return markets.Date{Year: y, Month: m, Day: d} }

// upsertSeries lays s out as the ETL does, then upserts it.
func upsertSeries(ctx context.Context, w *warehouse.Warehouse, s markets.Series) (int, error) {
	b, err := markets.Layout(s)
	if err != nil {
		return 0, err
	}
	return w.Upsert(ctx, b)
}

func mustUpsert(t testing.TB, w *warehouse.Warehouse, s markets.Series) int {
	t.Helper()
	n, err := upsertSeries(context.Background(), w, s)
	if err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	return n
}

func mustExec(t testing.TB, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// quote is s as an SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// setLocalZone makes zone Go's local time zone (TZ and time.Local) until the
// test ends, to show the warehouse never reads dates through it.
func setLocalZone(t *testing.T, zone string) {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatalf("load zone %s: %v", zone, err)
	}
	t.Setenv("TZ", zone)
	old := time.Local
	time.Local = loc
	t.Cleanup(func() { time.Local = old })
}

// TestNewest: the newest stored date of a series, none before its first
// rows, not confused with another series of the same table.
func TestNewest(t *testing.T) {
	w, _ := mustMigrated(t)
	ctx := context.Background()
	gdp := markets.Dataset{Job: markets.Economics, Database: "FRED", Ticker: "GDP", Description: "GDP"}
	if d, ok, err := w.Newest(ctx, markets.Economics, "FRED", "GDP"); err != nil || ok {
		t.Fatalf("Newest before any row = %v, %v, %v; want none", d, ok, err)
	}
	mustUpsert(t, w, markets.Series{Dataset: gdp, Columns: []string{"value"}, Rows: []markets.Row{
		{Date: day(2024, 4, 1), Values: []string{"29016.714"}}, {Date: day(2024, 7, 1), Values: []string{""}}, {Date: day(2024, 1, 1), Values: []string{"1"}},
	}})
	other := gdp
	other.Ticker = "M1SL"
	mustUpsert(t, w, markets.Series{Dataset: other, Columns: []string{"value"}, Rows: []markets.Row{{Date: day(2024, 11, 1), Values: []string{"18190.3"}}}})
	d, ok, err := w.Newest(ctx, markets.Economics, "FRED", "GDP")
	if err != nil || !ok || d != day(2024, 7, 1) {
		t.Errorf("Newest = %v, %v, %v; want 2024-07-01 (a NULL value is still a stored row)", d, ok, err)
	}
	if _, _, err := w.Newest(ctx, "crypto", "GDAX", "BTC"); err == nil || !strings.Contains(err.Error(), `unknown job "crypto"`) {
		t.Errorf("Newest of an unknown job: %v", err)
	}
}
