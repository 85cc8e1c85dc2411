package etl_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/acmecheckout/reports/internal/etl"
)

// TestSummaryErr checks that the error a failed run returns, which is all
// the Lambda invoker sees, names each series that did not load with its
// status and reason, stays short, and is nil when only stale series remain.
func TestSummaryErr(t *testing.T) {
	long := "fetch WIKI/GOOG: " + strings.Repeat("é", 300)
	failed := func(ds, ticker, err string) etl.TickerSummary {
		return etl.TickerSummary{Dataset: ds, Ticker: ticker, Status: etl.StatusFailed, Reason: etl.ReasonSource, Error: err}
	}
	many := etl.JobSummary{}
	for i := range 40 {
		many.Tickers = append(many.Tickers, failed("FRED", fmt.Sprintf("T%02d", i), strings.Repeat("x", 150)))
	}
	tests := []struct {
		name    string
		sum     etl.Summary
		want    string // exact, or the prefix when wantLen > 0
		wantLen int    // bound on the length
	}{
		{name: "all loaded", sum: etl.Summary{OK: true, Jobs: []etl.JobSummary{{Tickers: []etl.TickerSummary{{Dataset: "WIKI", Ticker: "FB", Status: etl.StatusOK}}}}}},
		{name: "stale does not fail", sum: etl.Summary{OK: true, Stale: 1, Jobs: []etl.JobSummary{{Tickers: []etl.TickerSummary{{Dataset: "WIKI", Ticker: "FB", Status: etl.StatusStale}}}}}},
		{name: "three kinds", sum: etl.Summary{Failed: 1, Retired: 1, NotFound: 1, Jobs: []etl.JobSummary{
			{Tickers: []etl.TickerSummary{{Dataset: "WIKI", Ticker: "FB", Status: etl.StatusNotFound, Error: "quandl: HTTP 404 QECx02"}, {Dataset: "WIKI", Ticker: "AMZN", Status: etl.StatusOK}}},
			{Tickers: []etl.TickerSummary{{Dataset: "CURRFX", Ticker: "EURUSD", Status: etl.StatusRetired, Error: "quandl: HTTP 410: Gone"},
				{Dataset: "FRED", Ticker: "GDP", Status: etl.StatusFailed, Reason: etl.ReasonDeadline, Error: "not reached: context deadline exceeded"}}},
		}}, want: "markets etl: 3 of 4 series did not load (1 failed, 1 retired, 1 not_found): WIKI/FB: not_found: quandl: HTTP 404 QECx02; " +
			"CURRFX/EURUSD: retired: quandl: HTTP 410: Gone; FRED/GDP: failed (deadline): not reached: context deadline exceeded"},
		{name: "long reason cut on a rune", sum: etl.Summary{Failed: 1, Jobs: []etl.JobSummary{{Tickers: []etl.TickerSummary{failed("WIKI", "GOOG", long)}}}},
			want: "markets etl: 1 of 1 series did not load (1 failed): WIKI/GOOG: failed (source): fetch WIKI/GOOG: éé", wantLen: 320},
		{name: "many failed", sum: etl.Summary{Failed: 40, Jobs: []etl.JobSummary{many}},
			want: "markets etl: 40 of 40 series did not load (40 failed): FRED/T00: failed (source): xxx", wantLen: 2100},
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
	if got := tests[4].sum.Err().Error(); !strings.HasSuffix(got, "and 29 more") {
		t.Errorf("many failures: %s\nwant the ones left out counted", got)
	}
}
