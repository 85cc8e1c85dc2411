package markets_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/markets"
)

func TestLayout(t *testing.T) {
	d := func(s string) markets.Date {
		t.Helper()
		v, err := markets.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	testCases := []struct {
		name    string
		series  markets.Series
		columns string
		rows    []string
	}{
		{
			name: "currency derives the currency and keeps only the answered columns",
			series: markets.Series{
				Dataset: markets.Dataset{Job: markets.Currency, Database: "CURRFX", Ticker: "GBPUSD"},
				Columns: []string{"rate", "low_est"},
				Rows:    []markets.Row{{Date: d("2017-12-01"), Values: []string{"1.35", ""}}},
			},
			columns: "dataset ticker currency date rate low_est",
			rows:    []string{"CURRFX GBPUSD GBP 2017-12-01 1.35 NULL"},
		},
		{
			name: "interest rates: one row per date and column",
			series: markets.Series{
				Dataset: markets.Dataset{Job: markets.InterestRates, Database: "USTREASURY", Ticker: "YIELD"},
				Columns: []string{"1_mo", "30_yr"},
				Rows:    []markets.Row{{Date: d("2017-12-01"), Values: []string{"1.14", ""}}, {Date: d("2017-12-04"), Values: []string{"1.2", "2.7"}}},
			},
			columns: "dataset ticker date key value",
			rows: []string{
				"USTREASURY YIELD 2017-12-01 1_mo 1.14", "USTREASURY YIELD 2017-12-01 30_yr NULL",
				"USTREASURY YIELD 2017-12-04 1_mo 1.2", "USTREASURY YIELD 2017-12-04 30_yr 2.7",
			},
		},
		{
			name: "real estate derives the Zillow parts",
			series: markets.Series{
				Dataset: markets.Dataset{Job: markets.RealEstate, Database: "ZILLOW", Ticker: "Z94108_ZHVIAH"},
				Columns: []string{"value"},
				Rows:    []markets.Row{{Date: d("2017-11-30"), Values: []string{"1206200.0"}}},
			},
			columns: "dataset ticker date value area_category indicator_code area",
			rows:    []string{"ZILLOW Z94108_ZHVIAH 2017-11-30 1206200.0 Z ZHVIAH 94108"},
		},
		{
			name: "columns rename a FRED value onto the rate, a constant sets the currency",
			series: markets.Series{
				Dataset: markets.Dataset{Job: markets.Currency, Database: "FRED", Ticker: "DEXUSEU",
					Columns: map[string]string{"value": "rate"}, Constants: map[string]string{"currency": "EUR"}},
				Columns: []string{"value"},
				Rows:    []markets.Row{{Date: d("2025-01-02"), Values: []string{"1.0321"}}, {Date: d("2025-01-03"), Values: []string{""}}},
			},
			columns: "dataset ticker currency date rate",
			rows:    []string{"FRED DEXUSEU EUR 2025-01-02 1.0321", "FRED DEXUSEU EUR 2025-01-03 NULL"},
		},
		{
			name: "interest rates: columns name the key of a one-column series",
			series: markets.Series{
				Dataset: markets.Dataset{Job: markets.InterestRates, Database: "FRED", Ticker: "DGS10", Columns: map[string]string{"value": "10_yr"}},
				Columns: []string{"value"},
				Rows:    []markets.Row{{Date: d("2025-01-02"), Values: []string{"4.57"}}},
			},
			columns: "dataset ticker date key value",
			rows:    []string{"FRED DGS10 2025-01-02 10_yr 4.57"},
		},
		{
			name: "real estate: constants instead of a Zillow code, renamed and unnamed columns together",
			series: markets.Series{
				Dataset: markets.Dataset{Job: markets.RealEstate, Database: "ZILLOW", Ticker: "ZALL_94108",
					Constants: map[string]string{"area_category": "zip", "indicator_code": "ZALL", "area": "94108"}},
				Columns: []string{"value"},
				Rows:    []markets.Row{{Date: d("2024-11-30"), Values: []string{"1304388.4"}}},
			},
			columns: "dataset ticker date value area_category indicator_code area",
			rows:    []string{"ZILLOW ZALL_94108 2024-11-30 1304388.4 zip ZALL 94108"},
		},
		{
			name: "a constant overrides one derived part only",
			series: markets.Series{
				Dataset: markets.Dataset{Job: markets.RealEstate, Database: "ZILLOW", Ticker: "Z94108_ZHVIAH", Constants: map[string]string{"area_category": "zip"}},
				Columns: []string{"value"},
				Rows:    []markets.Row{{Date: d("2017-11-30"), Values: []string{"1206200.0"}}},
			},
			columns: "dataset ticker date value area_category indicator_code area",
			rows:    []string{"ZILLOW Z94108_ZHVIAH 2017-11-30 1206200.0 zip ZHVIAH 94108"},
		},
		{
			name: "equities: renamed Tables API columns beside columns that keep their names",
			series: markets.Series{
				Dataset: markets.Dataset{Job: markets.Equities, Database: "QUOTEMEDIA", Ticker: "NVDA",
					Columns: map[string]string{"dividend": "ex_dividend", "split": "split_ratio"}},
				Columns: []string{"close", "dividend", "split"},
				Rows:    []markets.Row{{Date: d("2025-01-02"), Values: []string{"138.31", "0", "1"}}},
			},
			columns: "dataset ticker date close ex_dividend split_ratio",
			rows:    []string{"QUOTEMEDIA NVDA 2025-01-02 138.31 0 1"},
		},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			b, err := markets.Layout(tc.series)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(b.Columns, " "); got != tc.columns {
				t.Errorf("Columns = %s, want %s", got, tc.columns)
			}
			var rows []string
			for _, r := range b.Rows {
				var cells []string
				for _, v := range r {
					cells = append(cells, v.String())
				}
				rows = append(rows, strings.Join(cells, " "))
			}
			if fmt.Sprint(rows) != fmt.Sprint(tc.rows) {
				t.Errorf("Rows =\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(tc.rows, "\n"))
			}
		})
	}
}

func TestLayoutRejects(t *testing.T) {
	fb := markets.Dataset{Job: markets.Equities, Database: "WIKI", Ticker: "FB"}
	day := markets.Date{Year: 2017, Month: 12, Day: 1}
	testCases := []struct {
		name    string
		series  markets.Series
		wantErr string
	}{
		{"text column as a value", markets.Series{Dataset: markets.Dataset{Job: markets.Currency, Database: "CURRFX", Ticker: "EURUSD"}, Columns: []string{"currency"}},
			`invalid series: CURRFX/EURUSD: column "currency" is not a value column of currency (it has rate, high_est, low_est)`},
		{"key column as a value", markets.Series{Dataset: fb, Columns: []string{"date"}}, `column "date" is not a value column of equities`},
		{"empty column", markets.Series{Dataset: fb, Columns: []string{""}}, `column "": empty or repeated`},
		{"zero date", markets.Series{Dataset: fb, Columns: []string{"open"}, Rows: []markets.Row{{Values: []string{"1"}}}}, "date 0000-00-00 is not a valid calendar date"},
		{"renamed onto a column the series has", markets.Series{Dataset: markets.Dataset{Job: markets.Equities, Database: "Q", Ticker: "T", Columns: map[string]string{"adj_close": "close"}}, Columns: []string{"close", "adj_close"}},
			`columns "close" and "adj_close" both map to "close"`},
		{"renamed onto a text column", markets.Series{Dataset: markets.Dataset{Job: markets.Currency, Database: "FRED", Ticker: "DEXUSEU", Columns: map[string]string{"value": "currency"}}, Columns: []string{"value"}},
			`columns: value: "currency" is not a value column of currency (it has rate, high_est, low_est)`},
		{"unmapped column of another source", markets.Series{Dataset: markets.Dataset{Job: markets.Currency, Database: "FRED", Ticker: "DEXUSEU"}, Columns: []string{"value"}},
			`column "value" is not a value column of currency (it has rate, high_est, low_est)`},
		{"constant on a key column", markets.Series{Dataset: markets.Dataset{Job: markets.Currency, Database: "FRED", Ticker: "DEXUSEU", Constants: map[string]string{"dataset": "X"}}},
			`constants: "dataset" is not a text column of currency that a constant may set (it has currency)`},
		{"real estate without a Zillow code or constants", markets.Series{Dataset: markets.Dataset{Job: markets.RealEstate, Database: "ZILLOW", Ticker: "ZALL94108"}},
			`zillow code "ZALL94108": want <category><area>_<indicator>`},
		{"exponent without digits", markets.Series{Dataset: fb, Columns: []string{"open"}, Rows: []markets.Row{{Date: day, Values: []string{"1e+"}}}}, `"1e+" is not a decimal number`},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			_, err := markets.Layout(tc.series)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, markets.ErrInvalidSeries) {
				t.Errorf("Layout error = %v, want ErrInvalidSeries containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestTables(t *testing.T) {
	for _, tb := range markets.Tables() {
		for _, k := range tb.Key {
			if tb.Index(k) < 0 {
				t.Errorf("%s: key column %q is not a column", tb, k)
			}
		}
	}
	if _, ok := markets.Job("crypto").Table(); ok {
		t.Error(`Job("crypto").Table() is ok`)
	}
}
