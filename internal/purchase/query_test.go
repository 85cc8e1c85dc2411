package purchase_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/purchase"
)

func TestParseReport(t *testing.T) {
	for _, r := range purchase.Reports() {
		if got, err := purchase.ParseReport(string(r)); got != r || err != nil {
			t.Errorf("ParseReport(%q) = %q, %v", r, got, err)
		}
	}
	_, err := purchase.ParseReport("Hour-Bracket")
	if err == nil || !strings.Contains(err.Error(), `unknown report "Hour-Bracket": want one of hour-bracket, hour-bracket-method, bracket-method, day-merchant, merchant-method`) {
		t.Errorf("ParseReport of an unknown report: %v", err)
	}
}

func TestCheckDay(t *testing.T) {
	testCases := []struct {
		report  purchase.Report
		day     string
		wantErr string
	}{
		{purchase.HourBracket, "2011-12-03", ""},
		{purchase.DayMerchant, "2012-02-29", ""},
		{purchase.BracketMethod, "", ""},
		{purchase.HourBracket, "", "report hour-bracket is daily: it needs a day YYYY-MM-DD"},
		{purchase.DayMerchant, "2011-12-3", `day "2011-12-3" is not a date YYYY-MM-DD`},
		{purchase.HourBracketMethod, "2011-02-30", `day "2011-02-30" is not a date`},
		{purchase.DayMerchant, "2011-12-03T00:00:00Z", "is not a date"},
		{purchase.MerchantMethod, "2011-12-03", `report merchant-method counts all time: it takes no day, got "2011-12-03"`},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s %s", i, tc.report, tc.day), func(t *testing.T) {
			err := tc.report.CheckDay(tc.day)
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("CheckDay(%q) = %v, want %q", tc.day, err, tc.wantErr)
			}
		})
	}
}

func TestParseDatapoint(t *testing.T) {
	// Every datapoint an event adds to parses back to its report.
	e := purchase.Event{Time: time.Date(2011, 12, 3, 10, 15, 30, 0, time.UTC), Amount: 4285,
		Method: purchase.SliceIt, MerchantID: "1bb53ed1-787b-4543-9def-ea18eef7902e"}
	for _, amount := range []int64{0, 999, 1000, 4999, 5000, 9999, 10000, 49999, 50000, purchase.MaxAmount} {
		e.Amount = amount
		for _, dp := range e.Datapoints() {
			got, err := purchase.ParseDatapoint(dp.Key)
			if err != nil || got != dp {
				t.Errorf("ParseDatapoint(%q) = %+v, %v; want %+v", dp.Key, got, err, dp)
			}
		}
	}
	for i, s := range []string{
		"",
		"2011-12-03:24|10-50",          // hour 24
		"2011-12-03:1|10-50",           // one-digit hour
		"2011-02-30:10|10-50",          // no such day
		"2011-12-03:10|10-60",          // no such bracket
		"2011-12-03:10|10-50|slice_it", // method is case-sensitive
		"10-50|SLICE_IT|",              // trailing part
		"2011-12-03|1BB53ED1-787B-4543-9DEF-EA18EEF7902E", // merchant ids are lower-case in datapoints
		"1bb53ed1-787b-4543-9def-ea18eef7902e|10-50",      // merchant with a bracket
		"2011-12-03:10|10-50#writer-3",                    // a part item of the table, not a datapoint
	} {
		if dp, err := purchase.ParseDatapoint(s); err == nil {
			t.Errorf("%d: ParseDatapoint(%q) = %+v, want an error", i, s, dp)
		}
	}
}
