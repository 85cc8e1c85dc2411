// Package webapi makes the GET requests of the ETL's source clients (the
// Quandl / Nasdaq Data Link and FRED APIs) politely and safely: it is the
// one retry layer for their transient failures and the one place that
// knows their limits.
//
//   - A concurrency bound and token-bucket rate limits per provider
//     (golang.org/x/time/rate), shared by every request of the Client.
//   - Retries of transport errors, HTTP 429 and 5xx with capped exponential
//     backoff and full jitter, honouring Retry-After (delay-seconds or an
//     HTTP date, however large), up to a limit.
//   - A deadline guard: no request or retry starts that cannot finish before
//     the context's deadline (it needs at least MinRequestTime), so a run
//     cut short by its deadline says so (context.DeadlineExceeded) in time.
//   - A bound on the answer's size (ErrTooLarge, never retried).
//   - The API key never reaches an error or a log line: it is redacted from
//     request URLs structurally, and from every text the server echoes.
package webapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/acmecheckout/reports/internal/backoff"
)

// Redacted replaces the API key wherever it would otherwise be printed.
const Redacted = "REDACTED"

// ErrTooLarge is matched by the error of an answer longer than the Client's
// body limit. It is not retried: the same request would get the same answer.
var ErrTooLarge = errors.New("answer too large")

// Limit is a provider's rate limit: at most Requests requests in any window
// of Per.
type Limit struct {
	Requests int
	Per      time.Duration
}

// String returns e.g. "300 per 10s".
func (l Limit) String() string { return fmt.Sprintf("%d per %s", l.Requests, l.Per) }

// limiter returns a token bucket that never lets more than l.Requests through
// in any window of l.Per: a burst of a tenth of them, refilled at the rate
// that fills the rest over the window (burst + rate·Per <= Requests).
func (l Limit) limiter() *rate.Limiter {
	burst := max(l.Requests/10, 1)
	if l.Requests <= burst || l.Per <= 0 {
		return rate.NewLimiter(rate.Inf, 1)
	}
	return rate.NewLimiter(rate.Limit(float64(l.Requests-burst)/l.Per.Seconds()), burst)
}

// ErrorFunc turns an error answer (any status but 200) into the provider's
// error; body has the API key already redacted.
type ErrorFunc func(status int, body []byte) error

// Client makes GET requests to one provider. It is safe for concurrent use.
type Client struct {
	provider      string // for logs and errors, e.g. "quandl"
	keyParam      string // the query parameter that carries the API key
	keyForms      []string
	apiError      ErrorFunc
	http          *http.Client
	log           *slog.Logger
	slots         chan struct{} // nil: no concurrency bound
	limiters      []*rate.Limiter
	attempts      int
	delays        backoff.Policy
	maxRetryAfter time.Duration
	minRequest    time.Duration
	maxBody       int64
}

// Option configures a Client.
type Option func(*Client)

// WithLogger logs retries to l (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithConcurrency allows n requests in flight at once (default: no bound).
func WithConcurrency(n int) Option {
	return func(c *Client) { c.slots = make(chan struct{}, max(n, 1)) }
}

// WithLimits holds requests back so that none of the limits is exceeded
// (default: none).
func WithLimits(limits ...Limit) Option {
	return func(c *Client) {
		c.limiters = nil
		for _, l := range limits {
			c.limiters = append(c.limiters, l.limiter())
		}
	}
}

// WithRetry makes at most attempts tries per request, waiting up to base,
// 2·base, 4·base, … (full jitter, capped at maxDelay) between them, or what a
// 429's or 503's Retry-After asks. Defaults: 5 attempts, 500ms, 30s.
func WithRetry(attempts int, base, maxDelay time.Duration) Option {
	return func(c *Client) { c.attempts, c.delays = max(attempts, 1), backoff.Policy{Base: base, Max: maxDelay} }
}

// WithMaxRetryAfter gives up instead of waiting when the server's Retry-After
// asks for more than d (default 2 minutes).
func WithMaxRetryAfter(d time.Duration) Option { return func(c *Client) { c.maxRetryAfter = d } }

// WithMinRequestTime sets the least time a request is given: none starts
// (first try or retry) with less than d left before the context's deadline
// (default 5s).
func WithMinRequestTime(d time.Duration) Option { return func(c *Client) { c.minRequest = d } }

// WithMaxBody bounds an answer's size (default 32 MiB).
func WithMaxBody(n int64) Option { return func(c *Client) { c.maxBody = n } }

// Base checks a provider's API root and API key and returns the root without
// a trailing slash, ready for paths to be appended.
func Base(provider, baseURL, apiKey string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s base URL %q: want http(s)://host/path", provider, baseURL)
	}
	if apiKey == "" {
		return "", fmt.Errorf("%s: API key is empty", provider)
	}
	return strings.TrimRight(baseURL, "/"), nil
}

// New returns a client for provider (named in logs and errors) that sends
// apiKey as the query parameter keyParam and reads error answers with
// apiError.
func New(provider, keyParam, apiKey string, apiError ErrorFunc, opts ...Option) *Client {
	c := &Client{
		provider:      provider,
		keyParam:      keyParam,
		keyForms:      keyForms(apiKey),
		apiError:      apiError,
		http:          &http.Client{Timeout: 60 * time.Second},
		log:           slog.New(slog.DiscardHandler),
		attempts:      5,
		delays:        backoff.Policy{Base: 500 * time.Millisecond, Max: 30 * time.Second},
		maxRetryAfter: 2 * time.Minute,
		minRequest:    5 * time.Second,
		maxBody:       32 << 20,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Get GETs u (which carries the API key) and returns the body of its 200
// answer. label names what is fetched in log lines. It retries what may
// succeed later (transport errors, 429, 5xx). Its errors are, unwrapping:
// the provider's error for any other status or for the last retryable one;
// ErrTooLarge; context.DeadlineExceeded when there was no time left for a
// request or retry; or the transport error. None contains the API key.
func (c *Client) Get(ctx context.Context, u, label string) ([]byte, error) {
	for attempt := 1; ; attempt++ {
		if err := c.acquire(ctx); err != nil {
			return nil, err
		}
		status, header, body, err := c.do(ctx, u)
		c.release()
		if err == nil && status == http.StatusOK {
			return body, nil
		}
		var wait time.Duration
		switch {
		case errors.Is(err, ErrTooLarge):
			return nil, err
		case err != nil:
			if ctx.Err() != nil {
				return nil, err
			}
		case retryable(status):
			err = c.apiError(status, body)
			wait = RetryAfter(header.Get("Retry-After"), time.Now())
		default:
			return nil, c.apiError(status, body)
		}
		if attempt >= c.attempts {
			return nil, fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		if wait > c.maxRetryAfter {
			return nil, fmt.Errorf("the server asks to retry after %s, more than %s: %w", wait, c.maxRetryAfter, err)
		}
		if wait == 0 {
			wait = c.delays.Delay(attempt)
		}
		if left, ok := c.timeLeft(ctx); ok && left < wait+c.minRequest {
			return nil, fmt.Errorf("%w: %s left, too little to wait %s and retry (%w)", context.DeadlineExceeded, left.Round(time.Millisecond), wait, err)
		}
		c.log.WarnContext(ctx, c.provider+" request failed, retrying",
			"series", label, "attempt", attempt, "status", status, "wait", wait.String(), "error", err.Error())
		if serr := backoff.Sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("waiting to retry (%w): %w", err, serr)
		}
	}
}

// timeLeft returns the time to ctx's deadline, if it has one.
func (c *Client) timeLeft(ctx context.Context) (time.Duration, bool) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, false
	}
	return time.Until(dl), true
}

// acquire waits for a concurrency slot and for the rate limits, refusing
// (with context.DeadlineExceeded) when the request could not then finish
// before ctx's deadline.
func (c *Client) acquire(ctx context.Context) error {
	if left, ok := c.timeLeft(ctx); ok && left < c.minRequest {
		return fmt.Errorf("%w: %s left, too little for a %s request (it needs %s)", context.DeadlineExceeded, max(left, 0).Round(time.Millisecond), c.provider, c.minRequest)
	}
	if c.slots != nil {
		select {
		case c.slots <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("waiting for a %s request slot: %w", c.provider, ctx.Err())
		}
	}
	now := time.Now()
	var delay time.Duration
	reservations := make([]*rate.Reservation, 0, len(c.limiters))
	for _, l := range c.limiters {
		r := l.ReserveN(now, 1)
		reservations = append(reservations, r)
		delay = max(delay, r.DelayFrom(now))
	}
	cancel := func() {
		for _, r := range reservations {
			r.CancelAt(now)
		}
		c.release()
	}
	if left, ok := c.timeLeft(ctx); ok && left < delay+c.minRequest {
		cancel()
		return fmt.Errorf("%w: the %s rate limit holds the next request for %s, and only %s are left", context.DeadlineExceeded, c.provider, delay.Round(time.Millisecond), left.Round(time.Millisecond))
	}
	if delay > 0 {
		if err := backoff.Sleep(ctx, delay); err != nil {
			cancel()
			return fmt.Errorf("waiting for the %s rate limit: %w", c.provider, err)
		}
	}
	return nil
}

// release frees the concurrency slot acquire took.
func (c *Client) release() {
	if c.slots != nil {
		<-c.slots
	}
}

// do makes one request. Transport errors come back with the API key
// redacted; error answers' bodies too.
func (c *Client) do(ctx context.Context, u string) (int, http.Header, []byte, error) {
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return 0, nil, nil, c.redact(fmt.Errorf("read the answer: %w", err))
	}
	if int64(len(body)) > c.maxBody {
		return 0, nil, nil, fmt.Errorf("%w: the %s answer (HTTP %d) is longer than %d bytes", ErrTooLarge, c.provider, resp.StatusCode, c.maxBody)
	}
	if resp.StatusCode != http.StatusOK {
		body = []byte(c.Scrub(string(body)))
	}
	return resp.StatusCode, resp.Header, body, nil
}

// redact returns err with the API key removed from the URL it carries
// (net/http's *url.Error prints the full request URL) and from its text.
func (c *Client) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = c.Scrub(RedactURL(ue.URL, c.keyParam))
	}
	if msg := err.Error(); c.Scrub(msg) != msg {
		return &redacted{msg: c.Scrub(msg), err: err}
	}
	return err
}

// redacted is an error whose text had the API key removed; it still
// unwraps to the original, for errors.Is.
type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// Scrub replaces the API key in s, in any of its printed forms.
func (c *Client) Scrub(s string) string {
	for _, k := range c.keyForms {
		s = strings.ReplaceAll(s, k, Redacted)
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

// RedactURL returns u with the value of its query parameter keyParam replaced.
func RedactURL(u, keyParam string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unprintable URL)"
	}
	q := p.Query()
	if q.Has(keyParam) {
		q.Set(keyParam, Redacted)
		p.RawQuery = q.Encode()
	}
	return p.String()
}

// retryable reports whether a request that got status may succeed later.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// RetryAfter parses a Retry-After header: delay-seconds or an HTTP date. It
// returns 0 when the header is absent or unusable, and a delay too large for
// time.Duration as the largest one (so that it is never mistaken for a
// short one).
func RetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if strings.Trim(h, "0123456789") == "" {
		s, err := strconv.ParseInt(h, 10, 64)
		if err != nil || s > int64(math.MaxInt64/time.Second) {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
