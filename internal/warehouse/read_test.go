package warehouse_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/warehouse"
	"github.com/acmecheckout/reports/internal/warehouse/warehousetest"
)

// readSeries are what the read tests load: two series share the ticker
// EURUSD, and a long table's newest date has several keys.
var readSeries = []markets.Series{
	{
		Dataset: markets.Dataset{Job: markets.Currency, Database: "CURRFX", Ticker: "EURUSD", Description: "EUR vs USD"},
		Columns: []string{"rate", "high_est", "low_est"},
		Rows: []markets.Row{
			{Date: day(2017, 12, 1), Values: []string{"1.1794", "1.1961", "1.1712"}},
			{Date: day(2017, 12, 4), Values: []string{"1.18650000000000000001", "", ""}},
		},
	},
	{
		Dataset: markets.Dataset{Job: markets.Currency, Database: "CURRFX", Ticker: "GBPUSD", Description: "GBP vs USD"},
		Columns: []string{"rate"},
		Rows: []markets.Row{
			{Date: day(2017, 12, 1), Values: []string{"1.3517"}},
			{Date: day(2017, 12, 4), Values: []string{"1.3446"}},
			{Date: day(2017, 12, 5), Values: []string{"1.3400"}},
		},
	},
	{
		Dataset: markets.Dataset{Job: markets.Currency, Database: "ECB", Ticker: "EURUSD", Description: "EUR vs USD, ECB"},
		Columns: []string{"rate"},
		Rows:    []markets.Row{{Date: day(2017, 12, 4), Values: []string{"1.1856"}}},
	},
	{
		Dataset: markets.Dataset{Job: markets.InterestRates, Database: "USTREASURY", Ticker: "YIELD", Description: "Yield curve"},
		Columns: []string{"1_mo", "30_yr"},
		Rows: []markets.Row{
			{Date: day(2017, 12, 1), Values: []string{"1.14", "2.76"}},
			{Date: day(2017, 12, 4), Values: []string{"", "2.77"}},
		},
	},
	{
		Dataset: markets.Dataset{Job: markets.InterestRates, Database: "FED", Ticker: "RIFSPFF_N_D", Description: "Fed funds"},
		Columns: []string{"value"},
		Rows:    []markets.Row{{Date: day(2017, 12, 1), Values: []string{"1.16"}}},
	},
}

// mustReader loads readSeries into a fresh warehouse, sets the database's
// and Go's local time zone to zone, and returns a read-only Warehouse on it.
func mustReader(t *testing.T, zone string) *warehouse.Warehouse {
	t.Helper()
	setLocalZone(t, zone)
	url := warehousetest.Load(t, readSeries...)
	admin := mustConn(t, url)
	db := mustQuery(t, admin, "SELECT current_database()")[0]
	mustExec(t, admin, fmt.Sprintf("ALTER DATABASE %q SET timezone = %s", db, quote(zone))) // for the sessions to come
	r, err := warehouse.OpenReadOnly(url)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// rowsOf returns a batch's rows as "|"-joined cells, NULL for missing, after
// checking it carries every column of its table.
func rowsOf(t *testing.T, b markets.Batch, job markets.Job) []string {
	t.Helper()
	tb, _ := job.Table()
	if !slices.Equal(b.Columns, tb.ColumnNames()) || b.Table.Name != tb.Name {
		t.Errorf("batch of table %s with columns %q, want %s with %q", b.Table, b.Columns, tb, tb.ColumnNames())
	}
	out := []string{}
	for _, r := range b.Rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = v.String()
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return out
}

func TestLatest(t *testing.T) {
	for _, zone := range []string{"UTC", "Pacific/Auckland", "America/Los_Angeles"} {
		t.Run(zone, func(t *testing.T) {
			r := mustReader(t, zone)
			for _, tc := range []struct {
				job  markets.Job
				want []string
			}{
				{markets.Currency, []string{
					"CURRFX|EURUSD|EUR|2017-12-04|1.18650000000000000001|NULL|NULL",
					"CURRFX|GBPUSD|GBP|2017-12-05|1.3400|NULL|NULL",
					"ECB|EURUSD|EUR|2017-12-04|1.1856|NULL|NULL",
				}},
				{markets.InterestRates, []string{
					"FED|RIFSPFF_N_D|2017-12-01|value|1.16",
					"USTREASURY|YIELD|2017-12-04|1_mo|NULL",
					"USTREASURY|YIELD|2017-12-04|30_yr|2.77",
				}},
				{markets.Economics, []string{}},
			} {
				b, err := r.Latest(context.Background(), tc.job)
				if err != nil {
					t.Fatalf("Latest(%s): %v", tc.job, err)
				}
				if got := rowsOf(t, b, tc.job); !slices.Equal(got, tc.want) {
					t.Errorf("Latest(%s) =\n%s\nwant\n%s", tc.job, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
			}
		})
	}
}

func TestHistory(t *testing.T) {
	r := mustReader(t, "Pacific/Auckland")
	all := [2]markets.Date{day(1, 1, 1), day(9999, 12, 31)}
	key := func(s ...string) []markets.Value {
		out := make([]markets.Value, len(s))
		for i, v := range s {
			out[i] = markets.TextValue(v)
		}
		return out
	}
	testCases := []struct {
		name   string
		job    markets.Job
		ticker string
		window [2]markets.Date
		after  []markets.Value
		limit  int
		want   []string
	}{
		{"a ticker in two datasets, by key", markets.Currency, "EURUSD", all, nil, 10, []string{
			"CURRFX|EURUSD|EUR|2017-12-01|1.1794|1.1961|1.1712",
			"CURRFX|EURUSD|EUR|2017-12-04|1.18650000000000000001|NULL|NULL",
			"ECB|EURUSD|EUR|2017-12-04|1.1856|NULL|NULL",
		}},
		{"window of one day", markets.Currency, "GBPUSD", [2]markets.Date{day(2017, 12, 4), day(2017, 12, 4)}, nil, 10, []string{
			"CURRFX|GBPUSD|GBP|2017-12-04|1.3446|NULL|NULL",
		}},
		{"limit", markets.Currency, "GBPUSD", all, nil, 2, []string{
			"CURRFX|GBPUSD|GBP|2017-12-01|1.3517|NULL|NULL",
			"CURRFX|GBPUSD|GBP|2017-12-04|1.3446|NULL|NULL",
		}},
		{"after a key", markets.Currency, "GBPUSD", all, key("CURRFX", "GBPUSD", "2017-12-01"), 10, []string{
			"CURRFX|GBPUSD|GBP|2017-12-04|1.3446|NULL|NULL",
			"CURRFX|GBPUSD|GBP|2017-12-05|1.3400|NULL|NULL",
		}},
		{"after the first dataset's last row", markets.Currency, "EURUSD", all, key("CURRFX", "EURUSD", "2017-12-04"), 1, []string{
			"ECB|EURUSD|EUR|2017-12-04|1.1856|NULL|NULL",
		}},
		{"after a key of a long table", markets.InterestRates, "YIELD", all, key("USTREASURY", "YIELD", "2017-12-01", "30_yr"), 10, []string{
			"USTREASURY|YIELD|2017-12-04|1_mo|NULL",
			"USTREASURY|YIELD|2017-12-04|30_yr|2.77",
		}},
		{"after the last row", markets.Currency, "GBPUSD", all, key("CURRFX", "GBPUSD", "2017-12-05"), 10, []string{}},
		{"unknown ticker", markets.Currency, "JPYUSD", all, nil, 10, []string{}},
		{"ticker of another job", markets.Equities, "GBPUSD", all, nil, 10, []string{}},
		{"zero limit", markets.Currency, "GBPUSD", all, nil, 0, []string{}},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			b, err := r.History(context.Background(), tc.job, tc.ticker, tc.window[0], tc.window[1], tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := rowsOf(t, b, tc.job); !slices.Equal(got, tc.want) {
				t.Errorf("History =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}

	t.Run("pages of one follow on", func(t *testing.T) {
		var got []string
		var after []markets.Value
		for range 10 {
			b, err := r.History(context.Background(), markets.InterestRates, "YIELD", all[0], all[1], after, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Rows) == 0 {
				break
			}
			got = append(got, rowsOf(t, b, markets.InterestRates)...)
			last := b.Rows[0]
			after = []markets.Value{last[0], last[1], last[2], last[3]} // dataset, ticker, date, key
		}
		want := []string{
			"USTREASURY|YIELD|2017-12-01|1_mo|1.14", "USTREASURY|YIELD|2017-12-01|30_yr|2.76",
			"USTREASURY|YIELD|2017-12-04|1_mo|NULL", "USTREASURY|YIELD|2017-12-04|30_yr|2.77",
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	for i, tc := range []struct {
		name    string
		job     markets.Job
		after   []markets.Value
		wantErr string
	}{
		{"short key", markets.InterestRates, key("USTREASURY", "YIELD", "2017-12-01"), "3 key values after which to start, want 4 (dataset, ticker, date, key)"},
		{"NULL in the key", markets.Currency, []markets.Value{markets.TextValue("CURRFX"), {}, markets.TextValue("2017-12-01")}, "key column ticker after which to start is NULL"},
		{"unknown job", markets.Job("crypto"), nil, `unknown job "crypto"`},
	} {
		t.Run(fmt.Sprintf("error %d %s", i, tc.name), func(t *testing.T) {
			_, err := r.History(context.Background(), tc.job, "YIELD", all[0], all[1], tc.after, 10)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("History error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestReadOnlyWritesNothing shows that a read-only Warehouse refuses writes
// even when its database user could write.
func TestReadOnlyWritesNothing(t *testing.T) {
	r := mustReader(t, "UTC")
	b, err := markets.Layout(readSeries[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Upsert(context.Background(), b); err == nil || !strings.Contains(err.Error(), "read-only transaction") {
		t.Errorf("Upsert through OpenReadOnly: %v, want a read-only transaction error", err)
	}
}

// TestOpenReadOnlyIsLazyAndNamesNoSecret: a reader on an unreachable
// database opens (no round trip at a cold start); its queries fail without
// naming the URL, user, host or password.
func TestOpenReadOnlyIsLazyAndNamesNoSecret(t *testing.T) {
	const url = "postgres://reader:s3cr3t-pw@127.0.0.1:1/markets?sslmode=disable&connect_timeout=2"
	r, err := warehouse.OpenReadOnly(url)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	defer r.Close()
	_, err = r.Latest(context.Background(), markets.Currency)
	if err == nil {
		t.Fatal("Latest on an unreachable database succeeded")
	}
	for _, secret := range []string{"s3cr3t-pw", "reader", "127.0.0.1", "markets?"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
	if _, err := warehouse.OpenReadOnly("postgres://reader:s3cr3t-pw@127.0.0.1:99999999/x"); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("OpenReadOnly of a malformed URL: %v", err)
	}
}
