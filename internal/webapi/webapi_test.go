package webapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/webapi"
)

const key = "k-3e1f0a9b7c"

// apiError is the provider error the tests' client builds.
type apiError struct {
	status int
	body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.body) }

func newClient(opts ...webapi.Option) *webapi.Client {
	opts = append([]webapi.Option{webapi.WithRetry(3, time.Millisecond, 5*time.Millisecond)}, opts...)
	return webapi.New("test", "api_key", key, func(status int, body []byte) error { return &apiError{status, string(body)} }, opts...)
}

// server answers with answers in turn (the last one from then on) and counts
// requests.
type server struct {
	*httptest.Server
	requests atomic.Int32
}

type answer struct {
	status     int
	retryAfter string
	body       string
	delay      time.Duration
}

func newServer(t *testing.T, answers ...answer) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.requests.Add(1))
		a := answers[min(n, len(answers))-1]
		time.Sleep(a.delay)
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		fmt.Fprint(w, a.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) url() string { return s.URL + "/data.json?api_key=" + key }

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 10, 12, 0, 0, 0, time.UTC)
	huge := time.Duration(math.MaxInt64)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"9223372036", 9223372036 * time.Second}, // the largest whole seconds a Duration holds
		{"9223372037", huge},                     // overflows time.Duration
		{"9223372036854775807", huge},            // overflows it after multiplying
		{"99999999999999999999999", huge},        // overflows int64 itself
		{"Fri, 10 Jan 2025 12:00:30 GMT", 30 * time.Second},
		{"Fri, 10 Jan 2025 11:00:00 GMT", 0}, // past
		{"-5", 0},
		{"soon", 0},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %q", i, tc.header), func(t *testing.T) {
			if got := webapi.RetryAfter(tc.header, now); got != tc.want {
				t.Errorf("RetryAfter(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

// TestHugeRetryAfterGivesUp: a Retry-After too large for time.Duration is not
// read as a short wait (it once overflowed and retried at once).
func TestHugeRetryAfterGivesUp(t *testing.T) {
	for i, h := range []string{"9223372037", "99999999999999999999999", "3600"} {
		t.Run(fmt.Sprintf("%d %s", i, h), func(t *testing.T) {
			s := newServer(t, answer{status: 429, retryAfter: h, body: "slow down"}, answer{status: 200, body: "{}"})
			_, err := newClient(webapi.WithMaxRetryAfter(time.Minute)).Get(context.Background(), s.url(), "X")
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != 429 || !strings.Contains(err.Error(), "the server asks to retry after") {
				t.Fatalf("error = %v, want the 429 and that the wait is too long", err)
			}
			if n := s.requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1: no retry", n)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		answers  []answer
		wantErr  string // "" = success
		requests int32
		minGap   time.Duration
	}{
		{name: "429 then 200 honours Retry-After", answers: []answer{{status: 429, retryAfter: "1"}, {status: 200, body: "ok"}}, requests: 2, minGap: time.Second},
		{name: "5xx then 200", answers: []answer{{status: 503}, {status: 500}, {status: 200, body: "ok"}}, requests: 3},
		{name: "5xx every time", answers: []answer{{status: 502, body: "bad gateway"}}, wantErr: "giving up after 3 attempts: HTTP 502: bad gateway", requests: 3},
		{name: "404 is not retried", answers: []answer{{status: 404, body: "no such series"}}, wantErr: "HTTP 404: no such series", requests: 1},
		{name: "410 is not retried", answers: []answer{{status: 410, body: "gone"}}, wantErr: "HTTP 410: gone", requests: 1},
		{name: "an over-long body is not retried", answers: []answer{{status: 200, body: strings.Repeat("x", 101)}}, wantErr: "answer too large: the test answer (HTTP 200) is longer than 100 bytes", requests: 1},
		{name: "an over-long error body is not retried", answers: []answer{{status: 503, body: strings.Repeat("x", 101)}}, wantErr: "answer too large: the test answer (HTTP 503) is longer than 100 bytes", requests: 1},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			s := newServer(t, tc.answers...)
			start := time.Now()
			body, err := newClient(webapi.WithMaxBody(100)).Get(context.Background(), s.url(), "X")
			switch {
			case tc.wantErr == "" && (err != nil || string(body) != "ok"):
				t.Fatalf("Get = %q, %v; want ok", body, err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Fatalf("error = %v, want %s", err, tc.wantErr)
			}
			if n := s.requests.Load(); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if took := time.Since(start); took < tc.minGap {
				t.Errorf("took %s, want at least %s", took, tc.minGap)
			}
		})
	}
	t.Run("too large matches ErrTooLarge", func(t *testing.T) {
		s := newServer(t, answer{status: 200, body: "123456"})
		if _, err := newClient(webapi.WithMaxBody(5)).Get(context.Background(), s.url(), "X"); !errors.Is(err, webapi.ErrTooLarge) {
			t.Errorf("error = %v, want ErrTooLarge", err)
		}
	})
}

// TestDeadline: no request or retry starts that cannot finish before the
// context's deadline; the error says so (context.DeadlineExceeded) at once,
// instead of waiting for the deadline to pass.
func TestDeadline(t *testing.T) {
	tests := []struct {
		name     string
		answers  []answer
		timeout  time.Duration
		opts     []webapi.Option
		requests int32
		maxTook  time.Duration
		wantErr  string
	}{
		{name: "too little time for a first request", answers: []answer{{status: 200, body: "ok"}}, timeout: 100 * time.Millisecond,
			opts: []webapi.Option{webapi.WithMinRequestTime(time.Second)}, requests: 0, maxTook: 50 * time.Millisecond, wantErr: "too little for a test request"},
		{name: "too little time to wait for Retry-After and retry", answers: []answer{{status: 429, retryAfter: "2", body: "slow down"}}, timeout: 2 * time.Second,
			opts: []webapi.Option{webapi.WithMinRequestTime(time.Second)}, requests: 1, maxTook: 500 * time.Millisecond, wantErr: "too little to wait 2s and retry (HTTP 429: slow down)"},
		{name: "a rate limit that holds the request past the deadline", answers: []answer{{status: 200, body: "ok"}}, timeout: 2 * time.Second,
			opts: []webapi.Option{webapi.WithMinRequestTime(time.Second), webapi.WithLimits(webapi.Limit{Requests: 2, Per: time.Hour})}, requests: 1, maxTook: 500 * time.Millisecond,
			wantErr: "the test rate limit holds the next request"},
		{name: "a request cut by the deadline", answers: []answer{{status: 200, body: "ok", delay: 2 * time.Second}}, timeout: 300 * time.Millisecond,
			opts: []webapi.Option{webapi.WithMinRequestTime(10 * time.Millisecond)}, requests: 1, maxTook: time.Second, wantErr: "context deadline exceeded"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			s := newServer(t, tc.answers...)
			c := newClient(tc.opts...)
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			start := time.Now()
			var err error
			for range 2 { // the second Get finds the rate limit's bucket empty
				if _, err = c.Get(ctx, s.url(), "X"); err != nil {
					break
				}
			}
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want context.DeadlineExceeded saying %q", err, tc.wantErr)
			}
			if n := s.requests.Load(); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if took > tc.maxTook {
				t.Errorf("gave up after %s, want within %s", took, tc.maxTook)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	t.Run("rate", func(t *testing.T) {
		s := newServer(t, answer{status: 200, body: "ok"})
		// 10 per second: a burst of 1, then one every 1/9 s.
		c := newClient(webapi.WithLimits(webapi.Limit{Requests: 10, Per: time.Second}))
		start := time.Now()
		for range 5 {
			if _, err := c.Get(context.Background(), s.url(), "X"); err != nil {
				t.Fatal(err)
			}
		}
		if took := time.Since(start); took < 400*time.Millisecond {
			t.Errorf("5 requests in %s, want them paced at 9/s (at least 444ms)", took)
		}
	})
	t.Run("concurrency", func(t *testing.T) {
		var mu sync.Mutex
		inFlight, peak := 0, 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			inFlight--
			mu.Unlock()
		}))
		defer srv.Close()
		c := newClient(webapi.WithConcurrency(2))
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := c.Get(context.Background(), srv.URL+"?api_key="+key, "X"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if peak != 2 {
			t.Errorf("peak %d requests in flight, want 2", peak)
		}
	})
	for i, tc := range []struct {
		limit webapi.Limit
		want  string
	}{
		{webapi.Limit{Requests: 300, Per: 10 * time.Second}, "300 per 10s"},
		{webapi.Limit{Requests: 120, Per: time.Minute}, "120 per 1m0s"},
	} {
		if got := tc.limit.String(); got != tc.want {
			t.Errorf("%d: %s, want %s", i, got, tc.want)
		}
	}
}

// TestKeyRedacted: the key is in neither errors nor logs, whether the server
// echoes it or a transport error prints the URL.
func TestKeyRedacted(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		url     func(base string) string
		wantErr string
	}{
		{name: "error answer echoes the key", wantErr: "HTTP 400: bad key REDACTED",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(400)
				fmt.Fprintf(w, "bad key %s", r.URL.Query().Get("api_key"))
			}},
		{name: "transport error prints the URL", wantErr: "api_key=REDACTED",
			url: func(string) string { return dead.URL + "/data.json?api_key=" + key }},
		{name: "redirect puts the key in the path", wantErr: "/keys/REDACTED/",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, dead.URL+"/keys/"+key+"/x?"+r.URL.RawQuery, http.StatusFound)
			}},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			u := dead.URL
			if tc.handler != nil {
				srv := httptest.NewServer(tc.handler)
				t.Cleanup(srv.Close)
				u = srv.URL + "/data.json?api_key=" + key
			}
			if tc.url != nil {
				u = tc.url("")
			}
			var logs bytes.Buffer
			c := newClient(webapi.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			_, err := c.Get(context.Background(), u, "X")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), key) || strings.Contains(logs.String(), key) {
				t.Errorf("key leaked:\nerror: %s\nlogs: %s", err, logs.String())
			}
		})
	}
}
