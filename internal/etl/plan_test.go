package etl_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/etl"
	"github.com/acmecheckout/reports/internal/markets"
)

func TestPlan(t *testing.T) {
	today := markets.Date{Year: 2017, Month: 12, Day: 7}
	all := "currency incremental..2017-12-07, economics incremental..2017-12-07, equities incremental..2017-12-07, " +
		"interest_rates incremental..2017-12-07, real_estate incremental..2017-12-07"
	tests := []struct {
		name    string
		in      etl.Input
		want    string // "job start end, ..."
		wantErr string
	}{
		{name: "defaults: all jobs, incremental to today", want: all},
		{name: "one job", in: etl.Input{Jobs: []string{"currency"}}, want: "currency incremental..2017-12-07"},
		{name: "given order, duplicates dropped", in: etl.Input{Jobs: []string{"real_estate", "currency", "real_estate"}},
			want: "real_estate incremental..2017-12-07, currency incremental..2017-12-07"},
		{name: "window", in: etl.Input{Jobs: []string{"currency", "real_estate"}, StartDate: "2017-12-01", EndDate: "2017-12-07"},
			want: "currency 2017-12-01..2017-12-07, real_estate 2017-12-01..2017-12-07"},
		{name: "one day", in: etl.Input{Jobs: []string{"economics"}, StartDate: "2016-02-29", EndDate: "2016-02-29"}, want: "economics 2016-02-29..2016-02-29"},
		{name: "end only", in: etl.Input{Jobs: []string{"equities"}, EndDate: "2017-03-02"}, want: "equities incremental..2017-03-02"},
		{name: "start only ends today", in: etl.Input{Jobs: []string{"equities"}, StartDate: "2017-01-01"}, want: "equities 2017-01-01..2017-12-07"},
		{name: "unknown job", in: etl.Input{Jobs: []string{"currency", "crypto"}}, wantErr: `jobs: unknown job "crypto": want one of currency, economics, equities, interest_rates, real_estate`},
		{name: "bad start", in: etl.Input{StartDate: "2017-12-32"}, wantErr: `startDate: date "2017-12-32": want YYYY-MM-DD`},
		{name: "bad end", in: etl.Input{EndDate: "12/07/2017"}, wantErr: `endDate: date "12/07/2017": want YYYY-MM-DD`},
		{name: "start after end", in: etl.Input{StartDate: "2017-12-08", EndDate: "2017-12-07"}, wantErr: "startDate 2017-12-08 is after endDate 2017-12-07"},
		{name: "start after today", in: etl.Input{StartDate: "2017-12-08"}, wantErr: "startDate 2017-12-08 is after endDate 2017-12-07"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			ws, err := etl.Plan(tc.in, today)
			if tc.wantErr != "" {
				if !errors.Is(err, etl.ErrInvalidInput) || !strings.HasSuffix(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want invalid input ending %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range ws {
				got = append(got, w.String())
			}
			if s := strings.Join(got, ", "); s != tc.want {
				t.Errorf("Plan = %s\nwant   %s", s, tc.want)
			}
		})
	}
}

// TestSeriesStart: without a start date each series loads from its newest
// stored date minus 7 days, or the job's default window when never loaded;
// a given start date wins.
func TestSeriesStart(t *testing.T) {
	d := func(s string) markets.Date {
		v, err := markets.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	end := d("2017-12-08")
	tests := []struct {
		name   string
		w      etl.Window
		newest string // "" = never loaded
		want   string
	}{
		{"never loaded: the default window", etl.Window{Job: markets.Currency, End: end}, "", "2017-12-02"},
		{"never loaded real estate: 90 days", etl.Window{Job: markets.RealEstate, End: end}, "", "2017-09-10"},
		{"loaded yesterday: a week of revisions", etl.Window{Job: markets.Currency, End: end}, "2017-12-07", "2017-11-30"},
		{"after a long outage: the whole gap", etl.Window{Job: markets.Currency, End: end}, "2016-06-30", "2016-06-23"},
		{"stored past the end: the default window", etl.Window{Job: markets.Currency, End: end}, "2018-01-31", "2017-12-02"},
		{"stored within a week after the end: from newest-7", etl.Window{Job: markets.Currency, End: end}, "2017-12-12", "2017-12-05"},
		{"an explicit start wins", etl.Window{Job: markets.Currency, Start: d("2015-01-01"), End: end}, "2017-12-07", "2015-01-01"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			var newest markets.Date
			if tc.newest != "" {
				newest = d(tc.newest)
			}
			if got := tc.w.SeriesStart(newest, tc.newest != ""); got.String() != tc.want {
				t.Errorf("SeriesStart = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDecodeInput(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		want    etl.Input
		wantErr string
	}{
		{name: "empty means defaults"},
		{name: "blank means defaults", event: " \n"},
		{name: "null means defaults", event: "null"},
		{name: "{} means defaults", event: " {} \n"},
		{name: "schedule", event: `{"jobs": ["currency", "economics"]}`, want: etl.Input{Jobs: []string{"currency", "economics"}}},
		{name: "window", event: `{"startDate": "2017-12-01", "endDate": "2017-12-07"}`, want: etl.Input{StartDate: "2017-12-01", EndDate: "2017-12-07"}},
		{name: "every field, any order", event: `{"endDate": "2017-12-07", "jobs": ["currency"], "startDate": "2017-12-01"}`,
			want: etl.Input{Jobs: []string{"currency"}, StartDate: "2017-12-01", EndDate: "2017-12-07"}},
		{name: "misspelt field", event: `{"job": ["currency"]}`, wantErr: `: unknown field "job"`},
		{name: "upper-case name", event: `{"JOBS": ["currency"]}`, wantErr: `unknown field "JOBS" (names are case-sensitive: did you mean "jobs"?)`},
		{name: "lower-case name", event: `{"startdate": "2017-12-01"}`, wantErr: `unknown field "startdate" (names are case-sensitive: did you mean "startDate"?)`},
		{name: "repeated field", event: `{"jobs": ["currency"], "jobs": ["equities"]}`, wantErr: `duplicate field "jobs"`},
		{name: "repeated field, same value", event: `{"startDate": "2017-12-01", "startDate": "2017-12-01"}`, wantErr: `duplicate field "startDate"`},
		{name: "empty jobs", event: `{"jobs": [ ]}`, wantErr: "invalid input: jobs: empty; omit it to run every job"},
		{name: "null jobs", event: `{"jobs": null}`, wantErr: "invalid input: jobs: null; omit it to run every job"},
		{name: "empty date", event: `{"endDate": ""}`, wantErr: "invalid input: endDate: empty; omit it for today"},
		{name: "wrong type", event: `{"jobs": "currency"}`, wantErr: "invalid input: jobs: json: cannot unmarshal string"},
		{name: "not an object", event: `["currency"]`, wantErr: "not a JSON object"},
		{name: "trailing comma", event: `{"jobs": ["currency"],}`, wantErr: "invalid character '}'"},
		{name: "truncated", event: `{"jobs":`, wantErr: "unexpected EOF"},
		{name: "truncated after a field", event: `{"jobs": ["currency"]`, wantErr: "unexpected EOF"},
		{name: "data after null", event: `null {}`, wantErr: "unexpected data after the JSON object"},
		{name: "second document", event: `{} {}`, wantErr: "unexpected data after the JSON object"},
		{name: "trailing brace", event: `{}}`, wantErr: "unexpected data after the JSON object"},
		{name: "not JSON", event: `jobs=currency`, wantErr: "invalid character"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			got, err := etl.DecodeInput([]byte(tc.event))
			if tc.wantErr != "" {
				if !errors.Is(err, etl.ErrInvalidInput) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want invalid input with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("input = %+v, want %+v", got, tc.want)
			}
		})
	}
}
