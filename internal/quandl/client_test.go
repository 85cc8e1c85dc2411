package quandl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/quandl"
	"github.com/acmecheckout/reports/internal/quandl/quandltest"
	"github.com/acmecheckout/reports/internal/webapi"
)

const apiKey = "qk-7f3a9c1e2b4d"

func mustDate(t *testing.T, s string) markets.Date {
	t.Helper()
	d, err := markets.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustClient(t *testing.T, base string, opts ...webapi.Option) *quandl.Client {
	t.Helper()
	c, err := quandl.New(base, apiKey, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// defaultCatalog returns the embedded catalog of SPEC §5.
func defaultCatalog(t *testing.T) markets.Catalog {
	t.Helper()
	c, err := markets.DefaultCatalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mustEntry returns the default catalog's entry for DATABASE/CODE.
func mustEntry(t *testing.T, code string) markets.Entry {
	t.Helper()
	for _, e := range defaultCatalog(t).Series {
		if e.Code == code {
			return e
		}
	}
	t.Fatalf("no entry %s in the default catalog", code)
	return markets.Entry{}
}

// fastRetry keeps backoff short; Retry-After is still honoured.
var fastRetry = webapi.WithRetry(3, time.Millisecond, 5*time.Millisecond)

func TestFetchRecorded(t *testing.T) {
	srv := quandltest.NewServer(t, apiKey)
	c := mustClient(t, srv.BaseURL)
	start, end := mustDate(t, "2017-11-20"), mustDate(t, "2017-12-08")
	tests := []struct {
		dataset string
		columns []string
		rows    int
		date    string   // a row to check
		values  []string // its values, exactly as recorded ("" = null)
	}{
		{"CURRFX/EURUSD", []string{"rate", "high_est", "low_est"}, 15, "2017-12-06", []string{"1.1572", "", ""}},
		{"CURRFX/GBPUSD", []string{"rate", "high_est", "low_est"}, 15, "", nil},
		{"FRED/GDP", []string{"value"}, 0, "", nil},
		{"FRED/M1", []string{"value"}, 1, "2017-12-01", []string{"3630.4"}},
		{"FRED/DFF", []string{"value"}, 19, "2017-12-01", []string{"1.16"}},
		{"FRED/UNRATE", []string{"value"}, 1, "2017-12-01", []string{"4.1"}},
		{"WIKI/FB", []string{"open", "high", "low", "close", "volume", "ex_dividend", "split_ratio", "adj_open", "adj_high", "adj_low", "adj_close", "adj_volume"}, 15, "", nil},
		{"WIKI/AMZN", nil, 15, "", nil},
		{"WIKI/GOOG", nil, 15, "", nil},
		{"WIKI/NVDA", nil, 15, "2017-12-08", []string{"191.38", "193.03", "190.61", "191.4", "12672208.0", "0.0", "1.0", "191.38", "193.03", "190.61", "191.4", "12672208.0"}},
		{"FED/RIFSPFF_N_D", []string{"value"}, 15, "", nil},
		{"USTREASURY/YIELD", []string{"1_mo", "2_mo", "3_mo", "6_mo", "1_yr", "2_yr", "3_yr", "5_yr", "7_yr", "10_yr", "20_yr", "30_yr"}, 15, "", nil},
		{"USTREASURY/LONGTERMRATES", []string{"lt_composite_>_10_yrs", "treasury_20_yr_cmt", "extrapolation_factor"}, 15, "2017-12-08", []string{"2.6", "2.6", ""}},
		{"ZILLOW/Z94108_ZHVIAH", []string{"value"}, 1, "2017-11-30", []string{"1370800.0"}},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.dataset), func(t *testing.T) {
			e := mustEntry(t, tc.dataset)
			s, err := c.Fetch(context.Background(), e, start, end)
			if err != nil {
				t.Fatal(err)
			}
			if s.Dataset.String() != e.String() || s.Dataset.Description != e.Description {
				t.Errorf("dataset = %v, want %v", s.Dataset, e.Dataset)
			}
			if tc.columns != nil && !slices.Equal(s.Columns, tc.columns) {
				t.Errorf("columns = %q, want %q", s.Columns, tc.columns)
			}
			if len(s.Rows) != tc.rows {
				t.Errorf("%d rows, want %d", len(s.Rows), tc.rows)
			}
			for j, r := range s.Rows {
				if len(r.Values) != len(s.Columns) {
					t.Fatalf("row %d has %d values for %d columns", j, len(r.Values), len(s.Columns))
				}
				if j > 0 && !s.Rows[j-1].Date.Before(r.Date) {
					t.Errorf("rows not in ascending date order at %d: %s then %s", j, s.Rows[j-1].Date, r.Date)
				}
				if r.Date.Before(start) || end.Before(r.Date) {
					t.Errorf("row %s outside the window", r.Date)
				}
				if r.Date.String() == tc.date && !slices.Equal(r.Values, tc.values) {
					t.Errorf("%s values = %q, want %q", tc.date, r.Values, tc.values)
				}
			}
		})
	}
	for _, r := range srv.Requests() {
		if r.StartDate != "2017-11-20" || r.EndDate != "2017-12-08" || r.Order != "asc" || r.APIKey != apiKey {
			t.Errorf("request %+v: want start_date, end_date, order=asc and the API key", r)
		}
	}
}

func TestFetchNulls(t *testing.T) {
	srv := quandltest.NewServer(t, apiKey)
	c := mustClient(t, srv.BaseURL)
	s, err := c.Fetch(context.Background(), mustEntry(t, "USTREASURY/YIELD"), mustDate(t, "2017-12-01"), mustDate(t, "2017-12-07"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rows) != 5 {
		t.Fatalf("%d rows, want the 5 business days", len(s.Rows))
	}
	for _, r := range s.Rows {
		if r.Values[1] != "" || r.Values[0] == "" {
			t.Errorf("%s: 1 MO %q, 2 MO %q: want a value and a null", r.Date, r.Values[0], r.Values[1])
		}
	}
}

func TestFetchErrors(t *testing.T) {
	tests := []struct {
		name      string
		responses []quandltest.Response
		key       string
		dataset   string
		retire    bool
		want      error
		code      string
		requests  int
	}{
		{name: "unknown code", dataset: "WIKI/NOPE", want: markets.ErrNotFound, code: "QECx02", requests: 1},
		{name: "retired (410)", retire: true, want: markets.ErrRetired, requests: 1},
		{name: "404 without a body", responses: []quandltest.Response{{Status: 404}}, want: quandl.ErrNotFound, requests: 1},
		{name: "no subscription", responses: []quandltest.Response{{Status: 403, Body: "QEPx04"}}, want: quandl.ErrUnauthorized, code: "QEPx04", requests: 1},
		{name: "bad API key 400", key: "wrong-key", want: quandl.ErrUnauthorized, code: "QEAx01", requests: 1},
		{name: "bad API key 401", responses: []quandltest.Response{{Status: 401, Body: "QEAx01"}}, want: quandl.ErrUnauthorized, code: "QEAx01", requests: 1},
		{name: "5xx every time", responses: []quandltest.Response{{Status: 500, Body: "QEMx01"}, {Status: 502, Body: "<html>bad gateway</html>"}, {Status: 503}}, want: quandl.ErrUnavailable, requests: 3},
		{name: "429 every time", responses: []quandltest.Response{{Status: 429, Body: "QELx01"}, {Status: 429, Body: "QELx01"}, {Status: 429, Body: "QELx01"}}, want: quandl.ErrRateLimited, code: "QELx01", requests: 3},
		{name: "malformed JSON", responses: []quandltest.Response{{Status: 200, Body: `{"dataset_data":{"column_names":["Date","Value"],"data":[["2017-12-01",1.2]`}}, want: quandl.ErrMalformed, requests: 1},
		{name: "not the data shape", responses: []quandltest.Response{{Status: 200, Body: `{"dataset":{}}`}}, want: quandl.ErrMalformed, requests: 1},
		{name: "string value", responses: []quandltest.Response{{Status: 200, Body: `{"dataset_data":{"column_names":["Date","Value"],"data":[["2017-12-01","1.2"]]}}`}}, want: quandl.ErrMalformed, requests: 1},
		{name: "short row", responses: []quandltest.Response{{Status: 200, Body: `{"dataset_data":{"column_names":["Date","Rate","High (est)"],"data":[["2017-12-01",1.2]]}}`}}, want: quandl.ErrMalformed, requests: 1},
		{name: "bad date", responses: []quandltest.Response{{Status: 200, Body: `{"dataset_data":{"column_names":["Date","Value"],"data":[["12/01/2017",1.2]]}}`}}, want: quandl.ErrMalformed, requests: 1},
		{name: "duplicate date", responses: []quandltest.Response{{Status: 200, Body: `{"dataset_data":{"column_names":["Date","Value"],"data":[["2017-12-01",1.2],["2017-12-01",1.3]]}}`}}, want: quandl.ErrMalformed, requests: 1},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			srv := quandltest.NewServer(t, apiKey)
			if tc.dataset == "" {
				tc.dataset = "FRED/GDP"
			}
			for j, r := range tc.responses {
				if strings.HasPrefix(r.Body, "QE") {
					tc.responses[j].Body = srv.ErrorBody(t, r.Body)
				}
			}
			srv.Queue(tc.dataset, tc.responses...)
			if tc.retire {
				srv.Retire(tc.dataset)
			}
			key := apiKey
			if tc.key != "" {
				key = tc.key
			}
			var logs bytes.Buffer
			c, err := quandl.New(srv.BaseURL, key, fastRetry, webapi.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			if err != nil {
				t.Fatal(err)
			}
			e := markets.Entry{Source: markets.SourceQuandl, Code: tc.dataset}
			_, err = c.Fetch(context.Background(), e, mustDate(t, "2017-01-01"), mustDate(t, "2017-12-31"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			var qe *quandl.Error
			if tc.code != "" && (!errors.As(err, &qe) || qe.Code != tc.code) {
				t.Errorf("error = %#v, want Quandl code %s", err, tc.code)
			}
			if !strings.Contains(err.Error(), tc.dataset) {
				t.Errorf("error %q does not name the dataset", err)
			}
			if n := len(srv.Requests()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if strings.Contains(err.Error(), key) || strings.Contains(logs.String(), key) {
				t.Errorf("API key leaked:\nerror: %s\nlogs: %s", err, logs.String())
			}
		})
	}
}

func TestFetchRetries(t *testing.T) {
	tests := []struct {
		name      string
		responses []quandltest.Response
		minGap    time.Duration // between the first and last request
	}{
		{name: "429 then success honours Retry-After", responses: []quandltest.Response{{Status: 429, RetryAfter: "1", Body: "QELx01"}}, minGap: time.Second},
		{name: "5xx then success", responses: []quandltest.Response{{Status: 503, Body: "QEMx01"}, {Status: 500}}},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			srv := quandltest.NewServer(t, apiKey)
			for j, r := range tc.responses {
				if strings.HasPrefix(r.Body, "QE") {
					tc.responses[j].Body = srv.ErrorBody(t, r.Body)
				}
			}
			srv.Queue("CURRFX/EURUSD", tc.responses...)
			c := mustClient(t, srv.BaseURL, fastRetry)
			s, err := c.Fetch(context.Background(), mustEntry(t, "CURRFX/EURUSD"), mustDate(t, "2017-12-01"), mustDate(t, "2017-12-07"))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Rows) != 5 {
				t.Errorf("%d rows, want 5", len(s.Rows))
			}
			reqs := srv.Requests()
			if len(reqs) != len(tc.responses)+1 {
				t.Fatalf("%d requests, want %d", len(reqs), len(tc.responses)+1)
			}
			if gap := reqs[len(reqs)-1].At.Sub(reqs[0].At); gap < tc.minGap {
				t.Errorf("retried after %s, want at least %s", gap, tc.minGap)
			}
		})
	}
}

func TestRetryAfterTooLong(t *testing.T) {
	srv := quandltest.NewServer(t, apiKey)
	srv.Queue("CURRFX/EURUSD", quandltest.Response{Status: 429, RetryAfter: "3600", Body: srv.ErrorBody(t, "QELx01")})
	c := mustClient(t, srv.BaseURL, fastRetry, webapi.WithMaxRetryAfter(time.Minute))
	_, err := c.Fetch(context.Background(), mustEntry(t, "CURRFX/EURUSD"), mustDate(t, "2017-12-01"), mustDate(t, "2017-12-07"))
	if !errors.Is(err, quandl.ErrRateLimited) || len(srv.Requests()) != 1 {
		t.Fatalf("error = %v after %d requests, want rate limited after 1", err, len(srv.Requests()))
	}
}

func TestTransportErrorRedactsKey(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	base := dead.URL + "/api/v3"
	dead.Close()
	var logs bytes.Buffer
	c := mustClient(t, base, fastRetry, webapi.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	_, err := c.Fetch(context.Background(), mustEntry(t, "FRED/GDP"), mustDate(t, "2017-12-01"), mustDate(t, "2017-12-07"))
	if err == nil {
		t.Fatal("no error from a closed server")
	}
	if strings.Contains(err.Error(), apiKey) || strings.Contains(logs.String(), apiKey) {
		t.Fatalf("API key leaked:\nerror: %s\nlogs: %s", err, logs.String())
	}
	if !strings.Contains(err.Error(), "api_key=REDACTED") {
		t.Errorf("error %q: want the URL with the key redacted", err)
	}
}

func TestContextCancelStopsRetrying(t *testing.T) {
	srv := quandltest.NewServer(t, apiKey)
	srv.Queue("FRED/GDP", quandltest.Response{Status: 429, RetryAfter: "60"})
	c := mustClient(t, srv.BaseURL, webapi.WithMinRequestTime(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Fetch(ctx, mustEntry(t, "FRED/GDP"), mustDate(t, "2017-12-01"), mustDate(t, "2017-12-07"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want deadline exceeded", err)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	tests := []struct {
		name string
		opts []webapi.Option
		want int
	}{
		{"sequential by default", nil, 1},
		{"configurable", []webapi.Option{webapi.WithConcurrency(3)}, 3},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			qs := quandltest.NewServer(t, apiKey)
			var mu sync.Mutex
			inFlight, peak := 0, 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				inFlight++
				peak = max(peak, inFlight)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				qs.ServeHTTP(w, r)
				mu.Lock()
				inFlight--
				mu.Unlock()
			}))
			defer srv.Close()
			c := mustClient(t, srv.URL+"/api/v3", tc.opts...)
			var wg sync.WaitGroup
			for _, e := range defaultCatalog(t).Series {
				wg.Go(func() {
					if _, err := c.Fetch(context.Background(), e, mustDate(t, "2017-12-01"), mustDate(t, "2017-12-07")); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if peak > tc.want || (tc.want > 1 && peak < 2) {
				t.Errorf("peak %d requests in flight, want at most %d (and more than 1 when allowed)", peak, tc.want)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct{ base, key string }{
		{"data.nasdaq.com/api/v3", apiKey},
		{"ftp://data.nasdaq.com", apiKey},
		{quandl.DefaultBaseURL, ""},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if _, err := quandl.New(tc.base, tc.key); err == nil {
				t.Errorf("New(%q, %q): no error", tc.base, tc.key)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	got := quandl.RedactURL("https://data.nasdaq.com/api/v3/datasets/FRED/GDP/data.json?api_key=" + apiKey + "&start_date=2017-12-01")
	if strings.Contains(got, apiKey) || !strings.Contains(got, "start_date=2017-12-01") {
		t.Errorf("RedactURL = %q", got)
	}
}

// TestEscapedKeyRedacted: a key with characters that URLs escape is redacted
// in every form a URL prints it in, from API messages and transport errors.
func TestEscapedKeyRedacted(t *testing.T) {
	const key = "ab+c/d="
	forms := []string{key, url.QueryEscape(key), url.PathEscape(key)} // ab+c/d=, ab%2Bc%2Fd%3D, ab+c%2Fd=
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{name: "API message echoes the request", wantErr: "QEAx01",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("api_key") != key {
					t.Errorf("api_key %q, want %q", r.URL.Query().Get("api_key"), key)
				}
				w.WriteHeader(http.StatusBadRequest)
				msg := fmt.Sprintf("bad key in %s (key %s, /keys/%s)", r.URL.RequestURI(), key, url.PathEscape(key))
				fmt.Fprintf(w, `{"quandl_error":{"code":"QEAx01","message":%q}}`, msg)
			}},
		{name: "transport error after a redirect", wantErr: "connection refused",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, dead.URL+"/keys/"+url.PathEscape(key)+"/data.json?"+r.URL.RawQuery, http.StatusFound)
			}},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			var logs bytes.Buffer
			c, err := quandl.New(srv.URL, key, fastRetry, webapi.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Fetch(context.Background(), mustEntry(t, "FRED/GDP"), mustDate(t, "2017-12-01"), mustDate(t, "2017-12-07"))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "REDACTED") {
				t.Fatalf("error = %v, want %q with the key redacted", err, tc.wantErr)
			}
			for _, f := range forms {
				if strings.Contains(err.Error(), f) || strings.Contains(logs.String(), f) {
					t.Errorf("API key form %q leaked:\nerror: %s\nlogs: %s", f, err, logs.String())
				}
			}
		})
	}
}
