package etl_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/acmecheckout/reports/internal/etl"
)

// TestSummaryErr checks that the error a failed run returns, which is all
// the Lambda invoker sees, names each failed dataset with its reason and
// stays short.
func TestSummaryErr(t *testing.T) {
	long := "fetch WIKI/GOOG: " + strings.Repeat("é", 300)
	many := etl.JobSummary{}
	for i := range 40 {
		many.Tickers = append(many.Tickers, etl.TickerSummary{Dataset: "FRED", Ticker: fmt.Sprintf("T%02d", i), Error: strings.Repeat("x", 150)})
	}
	tests := []struct {
		name    string
		sum     etl.Summary
		want    string // exact, or the prefix when wantLen > 0
		wantLen int    // bound on the length
	}{
		{name: "all loaded", sum: etl.Summary{OK: true, Jobs: []etl.JobSummary{{Tickers: []etl.TickerSummary{{Dataset: "WIKI", Ticker: "FB"}}}}}},
		{name: "two failed", sum: etl.Summary{Failed: 2, Jobs: []etl.JobSummary{
			{Tickers: []etl.TickerSummary{{Dataset: "WIKI", Ticker: "FB", Error: "quandl: not found (QECx02)"}, {Dataset: "WIKI", Ticker: "AMZN"}}},
			{Tickers: []etl.TickerSummary{{Dataset: "FRED", Ticker: "GDP", Error: "upsert GDP: connection reset"}}},
		}}, want: "markets etl: 2 of 3 datasets failed: WIKI/FB: quandl: not found (QECx02); FRED/GDP: upsert GDP: connection reset"},
		{name: "long reason cut on a rune", sum: etl.Summary{Failed: 1, Jobs: []etl.JobSummary{{Tickers: []etl.TickerSummary{{Dataset: "WIKI", Ticker: "GOOG", Error: long}}}}},
			want: "markets etl: 1 of 1 datasets failed: WIKI/GOOG: fetch WIKI/GOOG: éé", wantLen: 300},
		{name: "many failed", sum: etl.Summary{Failed: 40, Jobs: []etl.JobSummary{many}},
			want: "markets etl: 40 of 40 datasets failed: FRED/T00: xxx", wantLen: 2100},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			err := tc.sum.Err()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("error = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("error = nil")
			}
			got := err.Error()
			switch {
			case tc.wantLen == 0 && got != tc.want:
				t.Errorf("error = %s\nwant    %s", got, tc.want)
			case tc.wantLen > 0 && (!strings.HasPrefix(got, tc.want) || len(got) > tc.wantLen):
				t.Errorf("error (%d bytes, want at most %d) = %s\nwant prefix %s", len(got), tc.wantLen, got, tc.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("error is not valid UTF-8: %q", got)
			}
		})
	}
	if got := tests[3].sum.Err().Error(); !strings.HasSuffix(got, "and 28 more") {
		t.Errorf("many failures: %s\nwant the ones left out counted", got)
	}
}
