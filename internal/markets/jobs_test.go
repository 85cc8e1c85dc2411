package markets_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/markets"
)

func TestDefaultCatalog(t *testing.T) {
	c, err := markets.DefaultCatalog()
	if err != nil {
		t.Fatal(err)
	}
	want := map[markets.Job][]string{
		markets.Currency:      {"CURRFX/EURUSD", "CURRFX/GBPUSD"},
		markets.Economics:     {"FRED/GDP", "FRED/M1", "FRED/DFF", "FRED/UNRATE"},
		markets.Equities:      {"WIKI/FB", "WIKI/AMZN", "WIKI/GOOG", "WIKI/NVDA"},
		markets.InterestRates: {"FED/RIFSPFF_N_D", "USTREASURY/YIELD", "USTREASURY/LONGTERMRATES"},
		markets.RealEstate:    {"ZILLOW/Z94108_ZHVIAH"},
	}
	for i, j := range markets.Jobs() {
		t.Run(fmt.Sprintf("%d %s", i, j), func(t *testing.T) {
			var got []string
			for _, e := range c.Job(j) {
				if e.Job != j || e.Description == "" || e.Source != markets.SourceQuandl || e.Code != e.String() ||
					len(e.Columns)+len(e.Constants)+len(e.Filters) > 0 || e.StaleAfterDays != j.DefaultStaleAfterDays() {
					t.Errorf("%s: %+v, want a plain quandl entry of SPEC §5", e, e)
				}
				got = append(got, e.String())
			}
			if fmt.Sprint(got) != fmt.Sprint(want[j]) {
				t.Errorf("datasets = %v, want %v", got, want[j])
			}
		})
	}
	if n := len(c.Series); n != 14 {
		t.Errorf("catalog has %d datasets, want 14", n)
	}
	if ds := markets.RealEstate.Datasets(); len(ds) != 1 || ds[0].String() != "ZILLOW/Z94108_ZHVIAH" || len(markets.Job("crypto").Datasets()) != 0 {
		t.Errorf("RealEstate.Datasets() = %v", ds)
	}
	if n := c.Count(markets.SourceQuandl); n != 14 {
		t.Errorf("%d quandl entries, want all 14", n)
	}
}

func TestParseJob(t *testing.T) {
	tests := []struct {
		in      string
		want    markets.Job
		wantErr string
	}{
		{"currency", markets.Currency, ""},
		{"interest_rates", markets.InterestRates, ""},
		{"Currency", "", `unknown job "Currency"`},
		{"", "", "want one of currency, economics, equities, interest_rates, real_estate"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.in), func(t *testing.T) {
			got, err := markets.ParseJob(tc.in)
			if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("ParseJob(%q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestDefaultWindowDays(t *testing.T) {
	for _, j := range markets.Jobs() {
		want := 7
		if j == markets.RealEstate {
			want = 90
		}
		if got := j.DefaultWindowDays(); got != want {
			t.Errorf("%s: %d days, want %d", j, got, want)
		}
	}
}

func TestDefaultStaleAfterDays(t *testing.T) {
	want := map[markets.Job]int{markets.Currency: 10, markets.Economics: 120, markets.Equities: 10, markets.InterestRates: 10, markets.RealEstate: 70}
	for _, j := range markets.Jobs() {
		if got := j.DefaultStaleAfterDays(); got != want[j] {
			t.Errorf("%s: %d days, want %d", j, got, want[j])
		}
	}
}
