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
	all := "currency 2017-12-01 2017-12-07, economics 2017-12-01 2017-12-07, equities 2017-12-01 2017-12-07, " +
		"interest_rates 2017-12-01 2017-12-07, real_estate 2017-09-09 2017-12-07"
	tests := []struct {
		name    string
		in      etl.Input
		want    string // "job start end, ..."
		wantErr string
	}{
		{name: "defaults: all jobs, last 7 days, real estate 90", want: all},
		{name: "one job", in: etl.Input{Jobs: []string{"currency"}}, want: "currency 2017-12-01 2017-12-07"},
		{name: "given order, duplicates dropped", in: etl.Input{Jobs: []string{"real_estate", "currency", "real_estate"}},
			want: "real_estate 2017-09-09 2017-12-07, currency 2017-12-01 2017-12-07"},
		{name: "window", in: etl.Input{Jobs: []string{"currency", "real_estate"}, StartDate: "2017-12-01", EndDate: "2017-12-07"},
			want: "currency 2017-12-01 2017-12-07, real_estate 2017-12-01 2017-12-07"},
		{name: "one day", in: etl.Input{Jobs: []string{"economics"}, StartDate: "2016-02-29", EndDate: "2016-02-29"}, want: "economics 2016-02-29 2016-02-29"},
		{name: "end only", in: etl.Input{Jobs: []string{"equities"}, EndDate: "2017-03-02"}, want: "equities 2017-02-24 2017-03-02"},
		{name: "start only ends today", in: etl.Input{Jobs: []string{"equities"}, StartDate: "2017-01-01"}, want: "equities 2017-01-01 2017-12-07"},
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
				got = append(got, fmt.Sprintf("%s %s %s", w.Job, w.Start, w.End))
			}
			if s := strings.Join(got, ", "); s != tc.want {
				t.Errorf("Plan = %s\nwant   %s", s, tc.want)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    etl.Config
		wantErr string
	}{
		{name: "defaults", env: map[string]string{}, want: etl.Config{QuandlBaseURL: "https://data.nasdaq.com/api/v3", Concurrency: 1}},
		{name: "all set", env: map[string]string{
			"QUANDL_BASE_URL": "http://127.0.0.1:8080/api/v3", "HEALTHCHECK_URL": "https://hc-ping.com/abc", "QUANDL_CONCURRENCY": "4",
			"SECRETS_PLAINTEXT": "true", "AWS_LAMBDA_FUNCTION_NAME": "markets-etl",
		}, want: etl.Config{QuandlBaseURL: "http://127.0.0.1:8080/api/v3", HealthcheckURL: "https://hc-ping.com/abc", Concurrency: 4, PlaintextSecrets: true, FunctionName: "markets-etl"}},
		{name: "bad base URL", env: map[string]string{"QUANDL_BASE_URL": "data.nasdaq.com"}, wantErr: "QUANDL_BASE_URL"},
		{name: "bad concurrency", env: map[string]string{"QUANDL_CONCURRENCY": "0"}, wantErr: "QUANDL_CONCURRENCY"},
		{name: "too much concurrency", env: map[string]string{"QUANDL_CONCURRENCY": "100"}, wantErr: "QUANDL_CONCURRENCY"},
		{name: "bad plaintext flag", env: map[string]string{"SECRETS_PLAINTEXT": "yes"}, wantErr: "SECRETS_PLAINTEXT"},
		{name: "bad health URL not echoed", env: map[string]string{"HEALTHCHECK_URL": "hc-ping.com/secret-token"}, wantErr: "HEALTHCHECK_URL: want an http(s) URL"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			got, err := etl.ConfigFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "secret-token") {
					t.Fatalf("error = %v, want one about %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ConfigFromEnv = %+v, %v; want %+v", got, err, tc.want)
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
