// Package fred is a client for the St. Louis Fed's FRED API (SPEC §6), the
// original publisher of the FRED/… series Quandl once mirrored:
//
//	GET {base}/series/observations?series_id=…&api_key=…&file_type=json&observation_start=…&observation_end=…[&offset=…]
//
// It returns one catalog entry's observations as a markets.Series with one
// value column, "value" ("." in the answer, FRED's missing value, becomes
// NULL), reading further pages by offset while the answer's count exceeds
// what came. Error answers {"error_code": N, "error_message": "…"} become
// *Error. Requests go through a webapi.Client within FRED's rate limit
// (Limits), retried when they may succeed later, never past the run's
// deadline, never with the API key in an error or a log line.
package fred

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/webapi"
)

// DefaultBaseURL is the production API root.
const DefaultBaseURL = "https://api.stlouisfed.org/fred"

// keyParam is the query parameter that carries the API key.
const keyParam = "api_key"

// Limits are FRED's rate limit: 120 requests per minute.
var Limits = []webapi.Limit{{Requests: 120, Per: time.Minute}}

// ValueColumn is the one value column of a FRED series.
const ValueColumn = "value"

// missing is FRED's text for a missing observation.
const missing = "."

// maxPages bounds the pages of one fetch (100,000 observations each).
const maxPages = 100

// Kinds of failure, for errors.Is. An *Error matches the kind its status and
// message denote; a series FRED does not have also matches
// markets.ErrNotFound, and HTTP 410 markets.ErrRetired.
var (
	// ErrUnauthorized: the API key was rejected (HTTP 401/403, or a 400
	// about the api_key variable).
	ErrUnauthorized = errors.New("fred: API key rejected")
	// ErrRateLimited: too many requests, still so after the retries (HTTP 429).
	ErrRateLimited = errors.New("fred: rate limited")
	// ErrUnavailable: a server error, still so after the retries (HTTP 5xx).
	ErrUnavailable = errors.New("fred: service unavailable")
	// ErrMalformed: a 200 answer that is not the observations shape.
	ErrMalformed = errors.New("fred: malformed response")
)

// Error is an error answer of the API: its HTTP status and, when the body was
// {"error_code": N, "error_message": "…"}, that code and message.
type Error struct {
	Status  int
	Code    int
	Message string
}

// Error returns e.g. "fred: HTTP 400: Bad Request.  The series does not exist.".
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("fred: HTTP %d: %s", e.Status, msg)
}

// Is reports whether e is of the kind target: markets.ErrNotFound (HTTP 404,
// or a message saying the series does not exist), markets.ErrRetired (HTTP
// 410), ErrUnauthorized, ErrRateLimited or ErrUnavailable.
func (e *Error) Is(target error) bool {
	switch target {
	case markets.ErrNotFound:
		return e.Status == http.StatusNotFound || strings.Contains(strings.ToLower(e.Message), "does not exist")
	case markets.ErrRetired:
		return e.Status == http.StatusGone
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden ||
			(e.Status == http.StatusBadRequest && strings.Contains(e.Message, keyParam))
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrUnavailable:
		return e.Status >= 500
	}
	return false
}

// apiError reads an error answer; a body that is not FRED's error JSON keeps
// only the status. It is the webapi.ErrorFunc of the Client.
func apiError(status int, body []byte) error {
	e := &Error{Status: status}
	var r struct {
		Code    int    `json:"error_code"`
		Message string `json:"error_message"`
	}
	if json.Unmarshal(body, &r) == nil {
		e.Code, e.Message = r.Code, r.Message
	}
	return e
}

// Client fetches FRED series. It is safe for concurrent use.
type Client struct {
	base   string
	apiKey string
	api    *webapi.Client
}

// New returns a client for the API at baseURL (e.g. DefaultBaseURL)
// authenticating with apiKey, within Limits; opts change that and the rest
// of webapi's defaults.
func New(baseURL, apiKey string, opts ...webapi.Option) (*Client, error) {
	base, err := webapi.Base("fred", baseURL, apiKey)
	if err != nil {
		return nil, err
	}
	defaults := []webapi.Option{webapi.WithLimits(Limits...)}
	return &Client{
		base:   base,
		apiKey: apiKey,
		api:    webapi.New("fred", keyParam, apiKey, apiError, append(defaults, opts...)...),
	}, nil
}

// observations is the answer of series/observations.
type observations struct {
	Count        *int `json:"count"`
	Offset       int  `json:"offset"`
	Observations []struct {
		Date  string `json:"date"`
		Value string `json:"value"`
	} `json:"observations"`
}

// Fetch returns the observations of the fred entry e dated from start to end
// inclusive, in ascending date order. Errors match markets.ErrNotFound and
// markets.ErrRetired when the API says so, and ErrUnauthorized,
// ErrRateLimited, ErrUnavailable (all as *Error), ErrMalformed,
// webapi.ErrTooLarge or context.DeadlineExceeded; they never contain the API
// key.
func (c *Client) Fetch(ctx context.Context, e markets.Entry, start, end markets.Date) (markets.Series, error) {
	s, err := c.fetch(ctx, e, start, end)
	if err != nil {
		return markets.Series{}, fmt.Errorf("fetch fred %s %s..%s: %w", e.Code, start, end, err)
	}
	return s, nil
}

func (c *Client) fetch(ctx context.Context, e markets.Entry, start, end markets.Date) (markets.Series, error) {
	if e.Source != markets.SourceFRED {
		return markets.Series{}, fmt.Errorf("source %q is not FRED", e.Source)
	}
	q := url.Values{}
	q.Set("series_id", e.Code)
	q.Set(keyParam, c.apiKey)
	q.Set("file_type", "json")
	q.Set("observation_start", start.String())
	q.Set("observation_end", end.String())
	s := markets.Series{Dataset: e.Dataset, Columns: []string{ValueColumn}}
	seen := map[markets.Date]bool{}
	for page := 1; ; page++ {
		body, err := c.api.Get(ctx, c.base+"/series/observations?"+q.Encode(), e.Code)
		if err != nil {
			return markets.Series{}, err
		}
		r, err := decode(body)
		if err != nil {
			return markets.Series{}, fmt.Errorf("page %d: %w", page, err)
		}
		for i, o := range r.Observations {
			d, err := markets.ParseDate(o.Date)
			if err != nil {
				return markets.Series{}, fmt.Errorf("%w: page %d observation %d: %w", ErrMalformed, page, i, err)
			}
			if seen[d] {
				return markets.Series{}, fmt.Errorf("%w: page %d: date %s appears twice", ErrMalformed, page, d)
			}
			seen[d] = true
			v := o.Value
			if v == missing {
				v = ""
			}
			s.Rows = append(s.Rows, markets.Row{Date: d, Values: []string{v}})
		}
		got := r.Offset + len(r.Observations)
		if *r.Count <= got || len(r.Observations) == 0 {
			return s, nil
		}
		if page >= maxPages {
			return markets.Series{}, fmt.Errorf("%w: still %d of %d observations to read after %d pages", ErrMalformed, *r.Count-got, *r.Count, page)
		}
		q.Set("offset", strconv.Itoa(got))
	}
}

// decode reads one page of series/observations. Errors match ErrMalformed.
func decode(body []byte) (observations, error) {
	var r observations
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&r); err != nil {
		return observations{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if r.Count == nil || r.Observations == nil {
		return observations{}, fmt.Errorf("%w: no count or observations", ErrMalformed)
	}
	return r, nil
}
