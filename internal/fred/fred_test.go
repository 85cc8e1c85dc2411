package fred_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/fred"
	"github.com/acmecheckout/reports/internal/fred/fredtest"
	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/webapi"
)

// apiKey has FRED's shape: 32 lower-case letters and digits.
const apiKey = "0123456789abcdef0123456789abcdef"

var fastRetry = webapi.WithRetry(3, time.Millisecond, 5*time.Millisecond)

func day(t *testing.T, s string) markets.Date {
	t.Helper()
	d, err := markets.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func entry(code string) markets.Entry {
	return markets.Entry{Dataset: markets.Dataset{Job: markets.Currency, Database: "FRED", Ticker: code}, Source: markets.SourceFRED, Code: code}
}

func mustClient(t *testing.T, base string, opts ...webapi.Option) *fred.Client {
	t.Helper()
	c, err := fred.New(base, apiKey, append([]webapi.Option{fastRetry}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFetchMissingValues: "." is FRED's missing value; it becomes NULL ("").
func TestFetchMissingValues(t *testing.T) {
	srv := fredtest.NewServer(t, apiKey)
	c := mustClient(t, srv.BaseURL)
	s, err := c.Fetch(context.Background(), entry("DEXUSEU"), day(t, "2024-12-20"), day(t, "2025-01-03"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Columns, []string{"value"}) || s.Dataset.Ticker != "DEXUSEU" {
		t.Fatalf("series %+v, want the one value column", s)
	}
	var got []string
	for _, r := range s.Rows {
		got = append(got, r.Date.String()+"="+r.Values[0])
	}
	want := "2024-12-20=1.0613 2024-12-23=1.0396 2024-12-24=1.0520 2024-12-25= 2024-12-26=1.0427 2024-12-27=1.0551 " +
		"2024-12-30=1.0675 2024-12-31=1.0458 2025-01-01= 2025-01-02=1.0365 2025-01-03=1.0489"
	if strings.Join(got, " ") != want {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	r := srv.Requests()
	if len(r) != 1 || r[0].SeriesID != "DEXUSEU" || r[0].FileType != "json" || r[0].StartDate != "2024-12-20" || r[0].EndDate != "2025-01-03" || r[0].Offset != "" {
		t.Errorf("requests %+v", r)
	}
}

// TestFetchPagesByOffset: when count exceeds what a page holds, the next
// page starts at the offset after it.
func TestFetchPagesByOffset(t *testing.T) {
	srv := fredtest.NewServer(t, apiKey)
	srv.SetPageSize(20)
	c := mustClient(t, srv.BaseURL)
	s, err := c.Fetch(context.Background(), entry("DFF"), day(t, "2024-11-01"), day(t, "2025-01-08"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rows) != 69 || s.Rows[0].Date.String() != "2024-11-01" || s.Rows[68].Date.String() != "2025-01-08" {
		t.Fatalf("%d rows, want the 69 days", len(s.Rows))
	}
	var offsets []string
	for _, r := range srv.Requests() {
		offsets = append(offsets, r.Offset)
	}
	if !slices.Equal(offsets, []string{"", "20", "40", "60"}) {
		t.Errorf("offsets %q, want pages of 20", offsets)
	}
}

func TestFetchErrors(t *testing.T) {
	tests := []struct {
		name      string
		code      string
		key       string
		retire    bool
		responses []fredtest.Response
		want      error
		wantText  string
		requests  int
	}{
		{name: "series does not exist (400)", code: "NOPE", want: markets.ErrNotFound, wantText: "fred: HTTP 400: Bad Request.  The series does not exist.", requests: 1},
		{name: "series does not exist (404)", responses: []fredtest.Response{{Status: 404, Body: `{"error_code":404,"error_message":"Not Found.  The series does not exist."}`}}, want: markets.ErrNotFound, requests: 1},
		{name: "retired (410)", retire: true, want: markets.ErrRetired, wantText: "HTTP 410", requests: 1},
		{name: "bad key", key: "ffffffffffffffffffffffffffffffff", want: fred.ErrUnauthorized, wantText: "api_key is not registered", requests: 1},
		{name: "429 with Retry-After, every time", responses: []fredtest.Response{{Status: 429, RetryAfter: "0", Body: "rate_limited"}, {Status: 429, Body: "rate_limited"}, {Status: 429, Body: "rate_limited"}}, want: fred.ErrRateLimited, wantText: "giving up after 3 attempts: fred: HTTP 429: Too Many Requests.  Exceeded Rate Limit", requests: 3},
		{name: "5xx every time", responses: []fredtest.Response{{Status: 500}, {Status: 502, Body: "<html>"}, {Status: 503}}, want: fred.ErrUnavailable, requests: 3},
		{name: "malformed JSON", responses: []fredtest.Response{{Status: 200, Body: `{"count":1,"offset":0,"observations":[{"date":"2025-01-02","value":"1.0`}}, want: fred.ErrMalformed, requests: 1},
		{name: "not the observations shape", responses: []fredtest.Response{{Status: 200, Body: `{"seriess":[]}`}}, want: fred.ErrMalformed, wantText: "no count or observations", requests: 1},
		{name: "bad date", responses: []fredtest.Response{{Status: 200, Body: `{"count":1,"offset":0,"observations":[{"date":"01/02/2025","value":"1.0"}]}`}}, want: fred.ErrMalformed, requests: 1},
		{name: "duplicate date", responses: []fredtest.Response{{Status: 200, Body: `{"count":2,"offset":0,"observations":[{"date":"2025-01-02","value":"1.0"},{"date":"2025-01-02","value":"1.1"}]}`}}, want: fred.ErrMalformed, wantText: "appears twice", requests: 1},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			srv := fredtest.NewServer(t, apiKey)
			if tc.code == "" {
				tc.code = "GDP"
			}
			for j, r := range tc.responses {
				if r.Body == "rate_limited" {
					tc.responses[j].Body = srv.ErrorBody(t, r.Body)
				}
			}
			srv.Queue(tc.code, tc.responses...)
			if tc.retire {
				srv.Retire(tc.code)
			}
			key := apiKey
			if tc.key != "" {
				key = tc.key
			}
			var logs bytes.Buffer
			c, err := fred.New(srv.BaseURL, key, fastRetry, webapi.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Fetch(context.Background(), entry(tc.code), day(t, "2024-01-01"), day(t, "2024-12-31"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), "fetch fred "+tc.code) || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error = %v, want it to name the series and say %q", err, tc.wantText)
			}
			if n := len(srv.Requests()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if strings.Contains(err.Error()+logs.String(), key) {
				t.Errorf("API key leaked:\nerror: %s\nlogs: %s", err, logs.String())
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for i, tc := range []struct{ base, key string }{{"api.stlouisfed.org/fred", apiKey}, {fred.DefaultBaseURL, ""}} {
		if _, err := fred.New(tc.base, tc.key); err == nil {
			t.Errorf("%d: New(%q, %q): no error", i, tc.base, tc.key)
		}
	}
}
