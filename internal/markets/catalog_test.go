package markets_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/markets"
)

// TestParseCatalogRejects checks each rule of SPEC §6 with the exact problem
// it reports: every problem names its entry and field.
func TestParseCatalogRejects(t *testing.T) {
	const fred = `"job": "economics", "source": "fred", "code": "GDP", "dataset": "FRED", "ticker": "GDP"`
	tests := []struct {
		name string
		file string
		want []string // every problem, in order
	}{
		{"not JSON", `{"series": [`, []string{"series: not valid JSON: it ends too early"}},
		{"not JSON at all", `series:`, []string{"not valid JSON at byte 1: invalid character 's' looking for beginning of value"}},
		{"not an object", `[]`, []string{`want a JSON object {"series": ...}`}},
		{"no series", `{}`, []string{"series: empty; a catalog lists at least one series"}},
		{"empty series", `{"series": []}`, []string{"series: empty; a catalog lists at least one series"}},
		{"unknown top-level field", `{"series": [], "jobs": []}`, []string{"jobs: unknown field (want series)"}},
		{"series not a list", `{"series": {}}`, []string{"series: series: object where a list belongs"}},
		{"entry not an object", `{"series": ["GDP"]}`, []string{`series[0]: want a JSON object {"job": ...}`}},
		{"unknown entry field", `{"series": [{` + fred + `, "filter": {}}]}`, []string{"series[0]: filter: unknown field (want job, source, code, dataset, ticker, description, filters, columns, constants, staleAfterDays)"}},
		{"field name case", `{"series": [{` + fred + `, "StaleAfterDays": 3}]}`, []string{`series[0]: StaleAfterDays: unknown field (names are case-sensitive: did you mean "staleAfterDays"?)`}},
		{"field twice", `{"series": [{` + fred + `, "code": "M1SL"}]}`, []string{"series[0]: code: given twice"}},
		{"wrong type", `{"series": [{"job": "economics", "source": "fred", "code": 42}]}`, []string{"series[0]: code: number where a string belongs"}},
		{"stale days not whole", `{"series": [{` + fred + `, "staleAfterDays": 1.5}]}`, []string{"series[0]: staleAfterDays: number 1.5 where a whole number belongs"}},
		{"missing job, source and code", `{"series": [{}]}`, []string{
			"series[0]: job: required: one of currency, economics, equities, interest_rates, real_estate",
			"series[0]: source: required: one of quandl, quandl-table, fred",
			"series[0]: code: required",
			"series[0]: dataset: required for source  (only quandl entries default it from the code)",
			"series[0]: ticker: required for source  (only quandl entries default it from the code)",
		}},
		{"unknown job and source", `{"series": [{"job": "crypto", "source": "gdax", "code": "BTC", "dataset": "GDAX", "ticker": "BTC"}]}`, []string{
			`series[0] (gdax BTC): job: unknown job "crypto": want one of currency, economics, equities, interest_rates, real_estate`,
			`series[0] (gdax BTC): source: unknown source "gdax": want one of quandl, quandl-table, fred`,
		}},
		{"quandl code without database", `{"series": [{"job": "economics", "source": "quandl", "code": "GDP"}]}`, []string{
			`series[0] (quandl GDP): code: "GDP": want DATABASE/CODE, e.g. FRED/GDP (letters, digits, _ . -)`,
		}},
		{"table code", `{"series": [{"job": "real_estate", "source": "quandl-table", "code": "ZILLOW/DATA/X", "dataset": "ZILLOW", "ticker": "Z94108_ZALL"}]}`, []string{
			`series[0] (quandl-table ZILLOW/DATA/X): code: "ZILLOW/DATA/X": want PUBLISHER/TABLE, e.g. ZILLOW/DATA (letters, digits, _ . -)`,
		}},
		{"fred code", `{"series": [{"job": "economics", "source": "fred", "code": "FRED/GDP", "dataset": "FRED", "ticker": "GDP"}]}`, []string{
			`series[0] (fred FRED/GDP): code: "FRED/GDP": want a FRED series id, e.g. DEXUSEU (letters, digits, _ . -)`,
		}},
		{"fred without dataset and ticker", `{"series": [{"job": "economics", "source": "fred", "code": "GDP"}]}`, []string{
			"series[0] (fred GDP): dataset: required for source fred (only quandl entries default it from the code)",
			"series[0] (fred GDP): ticker: required for source fred (only quandl entries default it from the code)",
		}},
		{"ticker with a control character", `{"series": [{"job": "economics", "source": "quandl", "code": "FRED/GDP", "ticker": "G\u0000DP"}]}`, []string{
			`series[0] (quandl FRED/GDP): ticker: "G\x00DP": want 1 to 100 printable characters`,
		}},
		{"filters on a time series", `{"series": [{` + fred + `, "filters": {"region_id": "1"}}]}`, []string{
			"series[0] (fred GDP): filters: only quandl-table entries take filters",
		}},
		{"filter on date", `{"series": [{"job": "real_estate", "source": "quandl-table", "code": "ZILLOW/DATA", "dataset": "ZILLOW", "ticker": "Z94108_ZALL", "filters": {"date": "2024-01-31"}}]}`, []string{
			`series[0] (quandl-table ZILLOW/DATA): filters: "date": the run's window sets the dates; filter other columns`,
		}},
		{"filter on a request option", `{"series": [{"job": "real_estate", "source": "quandl-table", "code": "ZILLOW/DATA", "dataset": "ZILLOW", "ticker": "Z94108_ZALL", "filters": {"qopts.columns": "value"}}]}`, []string{
			`series[0] (quandl-table ZILLOW/DATA): filters: "qopts.columns" is a request option, not a column`,
		}},
		{"filter without value", `{"series": [{"job": "real_estate", "source": "quandl-table", "code": "ZILLOW/DATA", "dataset": "ZILLOW", "ticker": "Z94108_ZALL", "filters": {"region_id": ""}}]}`, []string{
			"series[0] (quandl-table ZILLOW/DATA): filters: region_id: want a value of 1 to 100 printable characters",
		}},
		{"filter column not as the API writes it", `{"series": [{"job": "real_estate", "source": "quandl-table", "code": "ZILLOW/DATA", "dataset": "ZILLOW", "ticker": "Z94108_ZALL", "filters": {"Region ID": "1"}}]}`, []string{
			`series[0] (quandl-table ZILLOW/DATA): filters: "Region ID": want a column name as the Tables API writes it (lower case, e.g. region_id)`,
		}},
		{"column onto a text column", `{"series": [{"job": "currency", "source": "fred", "code": "DEXUSEU", "dataset": "FRED", "ticker": "DEXUSEU", "columns": {"value": "currency"}}]}`, []string{
			`series[0] (fred DEXUSEU): columns: value: "currency" is not a value column of currency (it has rate, high_est, low_est)`,
		}},
		{"two columns onto one", `{"series": [{"job": "equities", "source": "quandl-table", "code": "QUOTEMEDIA/PRICES", "dataset": "QUOTEMEDIA", "ticker": "AMZN", "columns": {"dividend": "close", "split": "close"}}]}`, []string{
			`series[0] (quandl-table QUOTEMEDIA/PRICES): columns: dividend and split both map to "close"`,
		}},
		{"column from the date", `{"series": [{` + fred + `, "columns": {"date": "value"}}]}`, []string{
			`series[0] (fred GDP): columns: "date" is the date column, not a value`,
		}},
		{"column not as mapped", `{"series": [{` + fred + `, "columns": {"High (est)": "value"}}]}`, []string{
			`series[0] (fred GDP): columns: "High (est)": want a source column as the §5 mapping writes it (lower case, _ for spaces, e.g. high_est)`,
		}},
		{"interest rate key empty", `{"series": [{"job": "interest_rates", "source": "fred", "code": "DGS10", "dataset": "FRED", "ticker": "DGS10", "columns": {"value": ""}}]}`, []string{
			`series[0] (fred DGS10): columns: value: "": want the key to store it under (1 to 100 printable characters)`,
		}},
		{"constant on a job without text columns", `{"series": [{` + fred + `, "constants": {"currency": "USD"}}]}`, []string{
			`series[0] (fred GDP): constants: "currency" is not a text column of economics that a constant may set (it has none)`,
		}},
		{"constant on a key column", `{"series": [{"job": "currency", "source": "fred", "code": "DEXUSEU", "dataset": "FRED", "ticker": "DEXUSEU", "constants": {"ticker": "EURUSD"}}]}`, []string{
			`series[0] (fred DEXUSEU): constants: "ticker" is not a text column of currency that a constant may set (it has currency)`,
		}},
		{"empty constant", `{"series": [{"job": "currency", "source": "fred", "code": "DEXUSEU", "dataset": "FRED", "ticker": "DEXUSEU", "constants": {"currency": ""}}]}`, []string{
			"series[0] (fred DEXUSEU): constants: currency: want a value of 1 to 100 printable characters",
		}},
		{"real estate without Zillow parts", `{"series": [{"job": "real_estate", "source": "quandl-table", "code": "ZILLOW/DATA", "dataset": "ZILLOW", "ticker": "ZALL", "constants": {"area": "94108"}}]}`, []string{
			`series[0] (quandl-table ZILLOW/DATA): constants: zillow code "ZALL": want <category><area>_<indicator>, e.g. Z94108_ZHVIAH; or give area_category, indicator_code and area as constants`,
		}},
		{"stale days out of range", `{"series": [{` + fred + `, "staleAfterDays": 0}]}`, []string{
			"series[0] (fred GDP): staleAfterDays: 0: want a whole number of days from 1 to 36500 (omit it for the job's default, 120)",
		}},
		{"same dataset and ticker twice", `{"series": [{` + fred + `}, {"job": "economics", "source": "quandl", "code": "FRED/GDP"}]}`, []string{
			"series[1] (quandl FRED/GDP): dataset, ticker: FRED/GDP is also loaded by series[0] (fred GDP); each series needs its own dataset and ticker",
		}},
		{"problems of several entries", `{"series": [{` + fred + `, "staleAfterDays": -1}, {"job": "economics"}, {` + fred + `, "ticker": "GDPC1", "source": "fred2"}]}`, []string{
			"series[0] (fred GDP): staleAfterDays: -1: want a whole number of days from 1 to 36500 (omit it for the job's default, 120)",
			"series[1]: source: required: one of quandl, quandl-table, fred",
			"series[1]: code: required",
			"series[1]: dataset: required for source  (only quandl entries default it from the code)",
			"series[1]: ticker: required for source  (only quandl entries default it from the code)",
			"series[2]: ticker: given twice",
		}},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			c, err := markets.ParseCatalog([]byte(tc.file))
			var ce *markets.CatalogError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseCatalog = %+v, %v; want a *CatalogError", c, err)
			}
			if got := strings.Join(ce.Problems, "\n"); got != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
			if len(c.Series) != 0 {
				t.Errorf("a rejected catalog returned %d series", len(c.Series))
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("invalid catalog: %d problem", len(tc.want))) {
				t.Errorf("error = %s", err)
			}
		})
	}
}

// TestParseCatalogDefaults: quandl entries default dataset and ticker from
// the code, every entry its description and staleAfterDays.
func TestParseCatalogDefaults(t *testing.T) {
	c, err := markets.ParseCatalog([]byte(`{"series": [
		{"job": "economics", "source": "quandl", "code": "FRED/GDP"},
		{"job": "currency", "source": "fred", "code": "DEXUSEU", "dataset": "FRED", "ticker": "DEXUSEU", "description": "USD per EUR",
		 "columns": {"value": "rate"}, "constants": {"currency": "EUR"}, "staleAfterDays": 5},
		{"job": "real_estate", "source": "quandl-table", "code": "ZILLOW/DATA", "dataset": "ZILLOW", "ticker": "ZALL_94108",
		 "filters": {"region_id": "1", "indicator_id": "ZALL"}, "constants": {"area_category": "zip", "area": "94108", "indicator_code": "ZALL"}}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(c.Series))
	for i, e := range c.Series {
		got[i] = fmt.Sprintf("%s %s %s %s/%s %q %v %v %v %d", e.Job, e.Source, e.Code, e.Database, e.Ticker, e.Description, e.Filters, e.Columns, e.Constants, e.StaleAfterDays)
	}
	want := []string{
		`economics quandl FRED/GDP FRED/GDP "FRED/GDP" map[] map[] map[] 120`,
		`currency fred DEXUSEU FRED/DEXUSEU "USD per EUR" map[] map[value:rate] map[currency:EUR] 5`,
		`real_estate quandl-table ZILLOW/DATA ZILLOW/ZALL_94108 "ZILLOW/DATA" map[indicator_id:ZALL region_id:1] map[] map[area:94108 area_category:zip indicator_code:ZALL] 70`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestShippedCatalogs: every catalog in catalogs/ is valid.
func TestShippedCatalogs(t *testing.T) {
	files, err := filepath.Glob("../../catalogs/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no catalogs in catalogs/: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c, err := markets.ParseCatalog(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range markets.Jobs() {
				if len(c.Job(j)) == 0 {
					t.Errorf("no series for job %s", j)
				}
			}
		})
	}
}
