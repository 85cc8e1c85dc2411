// Package quandl is a client for the Quandl / Nasdaq Data Link v3 time-series
// API (SPEC §5): it fetches one dataset's observations over a date window,
//
//	GET {base}/datasets/{DATABASE}/{CODE}/data.json?api_key=…&start_date=…&end_date=…&order=asc
//
// and returns them as a markets.Series, numbers kept exactly as the API wrote
// them. It retries 429 (honouring Retry-After), 5xx and transport errors with
// capped exponential backoff, turns {"quandl_error":{...}} answers into *Error,
// and never lets the API key into an error, a log line or a printed URL.
package quandl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acmecheckout/reports/internal/backoff"
	"github.com/acmecheckout/reports/internal/markets"
)

// DefaultBaseURL is the production API root.
const DefaultBaseURL = "https://data.nasdaq.com/api/v3"

// maxBody bounds a response body; a year of the widest dataset is ~100 KB.
const maxBody = 32 << 20

// redacted replaces the API key wherever it would otherwise be printed.
const redacted = "REDACTED"

// Client fetches datasets. It is safe for concurrent use; at most its
// concurrency limit of requests are in flight at once (1 by default: the
// API limits concurrent requests per key).
type Client struct {
	base          string
	apiKey        string
	keyForms      []string // what scrub replaces
	http          *http.Client
	log           *slog.Logger
	slots         chan struct{}
	attempts      int
	delays        backoff.Policy
	maxRetryAfter time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests with hc instead of a client with a 60s timeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithLogger logs retries to l (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithConcurrency allows n requests in flight at once (default 1; n < 1 means 1).
func WithConcurrency(n int) Option {
	return func(c *Client) { c.slots = make(chan struct{}, max(n, 1)) }
}

// WithRetry makes at most attempts tries per request, waiting up to base, 2·base,
// 4·base, … (full jitter, capped at maxDelay) between them, or what a 429's
// or 503's Retry-After asks. Defaults: 5 attempts, 500ms, 30s.
func WithRetry(attempts int, base, maxDelay time.Duration) Option {
	return func(c *Client) { c.attempts, c.delays = max(attempts, 1), backoff.Policy{Base: base, Max: maxDelay} }
}

// WithMaxRetryAfter gives up instead of waiting when the server's Retry-After
// asks for more than d (default 2 minutes).
func WithMaxRetryAfter(d time.Duration) Option { return func(c *Client) { c.maxRetryAfter = d } }

// New returns a client for the API at baseURL (e.g. DefaultBaseURL)
// authenticating with apiKey.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("quandl base URL %q: want http(s)://host/path", baseURL)
	}
	if apiKey == "" {
		return nil, errors.New("quandl: API key is empty")
	}
	c := &Client{
		base:          strings.TrimRight(baseURL, "/"),
		apiKey:        apiKey,
		keyForms:      keyForms(apiKey),
		http:          &http.Client{Timeout: 60 * time.Second},
		log:           slog.New(slog.DiscardHandler),
		slots:         make(chan struct{}, 1),
		attempts:      5,
		delays:        backoff.Policy{Base: 500 * time.Millisecond, Max: 30 * time.Second},
		maxRetryAfter: 2 * time.Minute,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Fetch returns the observations of ds dated from start to end inclusive, in
// ascending date order. Errors match ErrNotFound, ErrUnauthorized,
// ErrRateLimited, ErrUnavailable (all as *Error) or ErrMalformed; they never
// contain the API key.
func (c *Client) Fetch(ctx context.Context, ds markets.Dataset, start, end markets.Date) (markets.Series, error) {
	q := url.Values{}
	q.Set("api_key", c.apiKey)
	q.Set("start_date", start.String())
	q.Set("end_date", end.String())
	q.Set("order", "asc")
	u := c.base + "/datasets/" + url.PathEscape(ds.Database) + "/" + url.PathEscape(ds.Ticker) + "/data.json?" + q.Encode()

	body, err := c.get(ctx, ds, u)
	if err != nil {
		return markets.Series{}, fmt.Errorf("fetch %s %s..%s: %w", ds, start, end, err)
	}
	s, err := Decode(ds, body)
	if err != nil {
		return markets.Series{}, fmt.Errorf("fetch %s %s..%s: %w", ds, start, end, err)
	}
	return s, nil
}

// get GETs u, retrying what may succeed later, and returns the 200 body.
func (c *Client) get(ctx context.Context, ds markets.Dataset, u string) ([]byte, error) {
	for attempt := 1; ; attempt++ {
		status, header, body, err := c.do(ctx, u)
		if err == nil && status == http.StatusOK {
			return body, nil
		}
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, err
			}
		case retryable(status):
			err = c.apiError(status, body)
			wait = retryAfter(header.Get("Retry-After"), time.Now())
		default:
			return nil, c.apiError(status, body)
		}
		if attempt >= c.attempts {
			return nil, fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		if wait > c.maxRetryAfter {
			return nil, fmt.Errorf("server asks to retry after %s, more than %s: %w", wait, c.maxRetryAfter, err)
		}
		if wait == 0 {
			wait = c.delays.Delay(attempt)
		}
		c.log.WarnContext(ctx, "quandl request failed, retrying",
			"dataset", ds.String(), "attempt", attempt, "status", status, "wait", wait.String(), "error", err.Error())
		if serr := backoff.Sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("waiting to retry (%v): %w", err, serr)
		}
	}
}

// do makes one request within the concurrency limit. Transport errors come
// back with the URL's API key redacted.
func (c *Client) do(ctx context.Context, u string) (int, http.Header, []byte, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, nil, nil, ctx.Err()
	}
	defer func() { <-c.slots }()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, nil, c.redact(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, c.redact(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, nil, nil, c.redact(fmt.Errorf("read body: %w", err))
	}
	if len(body) > maxBody {
		return 0, nil, nil, fmt.Errorf("response body larger than %d bytes", maxBody)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// apiError reads an error answer; a body that is not a quandl_error keeps
// only the status.
func (c *Client) apiError(status int, body []byte) *Error {
	e := &Error{Status: status}
	if code, msg, ok := decodeError(body); ok {
		e.Code, e.Message = c.scrub(code), c.scrub(msg)
	}
	return e
}

// redact returns err with the API key removed from any URL it carries
// (net/http's *url.Error prints the full request URL) and from its text.
func (c *Client) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = c.scrub(RedactURL(ue.URL))
	}
	if msg := err.Error(); c.scrub(msg) != msg {
		return errors.New(c.scrub(msg))
	}
	return err
}

// scrub replaces the API key in s, in any of its printed forms.
func (c *Client) scrub(s string) string {
	for _, k := range c.keyForms {
		s = strings.ReplaceAll(s, k, redacted)
	}
	return s
}

// keyForms returns the texts key may be printed as, longest first: as is,
// query-escaped (as in a request URL) and path-escaped. An empty key has none.
func keyForms(key string) []string {
	var out []string
	for _, s := range []string{key, url.QueryEscape(key), url.PathEscape(key)} {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// RedactURL returns u with the value of its api_key query parameter replaced.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unprintable URL)"
	}
	q := p.Query()
	if q.Has("api_key") {
		q.Set("api_key", redacted)
		p.RawQuery = q.Encode()
	}
	return p.String()
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
// It returns 0 when the header is absent or unusable.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
