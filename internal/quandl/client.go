// Package quandl is a client for the two Quandl / Nasdaq Data Link v3 APIs a
// catalog entry may name (SPEC §5, §6):
//
//	GET {base}/datasets/{DATABASE}/{CODE}/data.json?api_key=…&start_date=…&end_date=…&order=asc
//	GET {base}/datatables/{PUBLISHER}/{TABLE}.json?api_key=…&date.gte=…&date.lte=…&<filters>&qopts.per_page=10000
//
// (the time-series API, and the Tables API, read over all its cursor pages).
// It returns a markets.Series, numbers kept exactly as the API wrote them,
// and turns {"quandl_error":{...}} answers into *Error. Requests go through
// a webapi.Client: one at a time by default, within the API's rate limits
// (Limits), retried when they may succeed later, never past the run's
// deadline, never with the API key in an error or a log line.
package quandl

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/webapi"
)

// DefaultBaseURL is the production API root.
const DefaultBaseURL = "https://data.nasdaq.com/api/v3"

// keyParam is the query parameter that carries the API key.
const keyParam = "api_key"

// Limits are the API's rate limits for a registered user: 300 requests per
// 10 seconds and 2,000 per 10 minutes.
var Limits = []webapi.Limit{{Requests: 300, Per: 10 * time.Second}, {Requests: 2000, Per: 10 * time.Minute}}

// Client fetches the series of quandl and quandl-table catalog entries. It is
// safe for concurrent use.
type Client struct {
	base   string
	apiKey string
	api    *webapi.Client
}

// New returns a client for the API at baseURL (e.g. DefaultBaseURL)
// authenticating with apiKey. By default it makes one request at a time
// (the API limits concurrent requests per key) within Limits; opts change
// that and the rest of webapi's defaults.
func New(baseURL, apiKey string, opts ...webapi.Option) (*Client, error) {
	base, err := webapi.Base("quandl", baseURL, apiKey)
	if err != nil {
		return nil, err
	}
	defaults := []webapi.Option{webapi.WithConcurrency(1), webapi.WithLimits(Limits...)}
	return &Client{
		base:   base,
		apiKey: apiKey,
		api:    webapi.New("quandl", keyParam, apiKey, apiError, append(defaults, opts...)...),
	}, nil
}

// Fetch returns the observations of e dated from start to end inclusive, in
// ascending date order, from the time-series API (source quandl) or the
// Tables API (source quandl-table). Errors match markets.ErrNotFound and
// markets.ErrRetired when the API says so, and ErrNotFound, ErrUnauthorized,
// ErrRateLimited, ErrUnavailable (all as *Error), ErrMalformed,
// webapi.ErrTooLarge or context.DeadlineExceeded; they never contain the API
// key.
func (c *Client) Fetch(ctx context.Context, e markets.Entry, start, end markets.Date) (markets.Series, error) {
	var s markets.Series
	var err error
	switch e.Source {
	case markets.SourceQuandl:
		s, err = c.fetchSeries(ctx, e, start, end)
	case markets.SourceQuandlTable:
		s, err = c.fetchTable(ctx, e, start, end)
	default:
		err = fmt.Errorf("source %q is not a Quandl API", e.Source)
	}
	if err != nil {
		return markets.Series{}, fmt.Errorf("fetch %s %s %s..%s: %w", e.Source, e.Code, start, end, err)
	}
	return s, nil
}

// fetchSeries reads a time series of the data.json API.
func (c *Client) fetchSeries(ctx context.Context, e markets.Entry, start, end markets.Date) (markets.Series, error) {
	db, code, _ := strings.Cut(e.Code, "/")
	q := url.Values{}
	q.Set(keyParam, c.apiKey)
	q.Set("start_date", start.String())
	q.Set("end_date", end.String())
	q.Set("order", "asc")
	u := c.base + "/datasets/" + url.PathEscape(db) + "/" + url.PathEscape(code) + "/data.json?" + q.Encode()
	body, err := c.api.Get(ctx, u, e.Code)
	if err != nil {
		return markets.Series{}, err
	}
	return Decode(e.Dataset, body)
}

// RedactURL returns u with the value of its api_key query parameter replaced.
func RedactURL(u string) string { return webapi.RedactURL(u, keyParam) }
