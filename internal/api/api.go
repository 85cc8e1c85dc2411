// Package api is the read API of SPEC §8 as an http.Handler: the purchase
// reports' datapoints and the markets ETL's tables, as JSON, never writing
// anything. cmd/api serves it behind a Lambda Function URL and over plain
// HTTP (`api serve`).
//
// Routes (GET and HEAD; OPTIONS answers CORS preflights):
//
//	/api/datapoints/{datapoint}              {"datapoint": "…", "events": 42}
//	/api/reports/{report}[?day=YYYY-MM-DD]   {"body": [{"datapoint": "…", "events": 42}, …]}
//	/api/{job}/latest                        {"body": [ROW, …]}
//	/api/{job}?ticker=T[&start=D][&end=D][&cursor=C]
//	                                         {"body": [ROW, …], "next": C or null}
//
// A ROW has its table's columns by name: dates YYYY-MM-DD, decimals as JSON
// strings holding the exact number, null for missing values. History rows
// come in the table's key order (dataset, ticker, date[, key]): by date for
// a series; "next" is an opaque cursor after the page's last key. Errors are
// {"error": {"code": "…", "message": "…"}} with status 400, 404, 405 or 500;
// a 500's message never says more than "internal error" (the log has the
// cause), so nothing about the database or its secrets reaches a client.
//
// Caching: every 200 has a strong ETag (a hash of the body) and a matching
// If-None-Match is answered 304 with no body. Reports and datapoints are live
// counts: "private, no-cache" (a client may keep them but revalidates each
// use). A job's latest rows: "private, max-age=60"; history pages:
// "private, max-age=300" (the ETL loads at most a few times a day). Errors:
// "no-store".
package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/purchase"
)

// Reports reads the report counts (purchase.Reader fits: *dynamo.Store).
type Reports interface {
	// Get returns one datapoint's count; an error matching
	// purchase.ErrNotFound when it has never been counted.
	Get(ctx context.Context, datapoint string) (purchase.Total, error)
	// List returns a report's datapoints sorted by datapoint: one UTC day
	// (YYYY-MM-DD) of a daily report, or all time ("") of the others.
	List(ctx context.Context, r purchase.Report, day string) ([]purchase.Total, error)
}

// MarketData reads the markets ETL's tables (*warehouse.Warehouse fits, and
// the lake's reader). Returned batches carry every column of the job's table.
type MarketData interface {
	// Latest returns each series' newest row(s) of the job's table (interest_rates: every key of the newest date).
	Latest(ctx context.Context, job markets.Job) (markets.Batch, error)
	// History returns up to limit rows of the series whose ticker is ticker (any dataset), start <= date <= end,
	// ordered by the table key, starting strictly after the row whose key values are after (nil = from the start).
	History(ctx context.Context, job markets.Job, ticker string, start, end markets.Date, after []markets.Value, limit int) (markets.Batch, error)
}

// DefaultPageSize is how many rows a history page holds unless WithPageSize
// says otherwise.
const DefaultPageSize = 1000

// Handler is the read API. It is safe for concurrent use.
type Handler struct {
	reports  Reports
	markets  MarketData
	origins  []string
	log      *slog.Logger
	pageSize int
}

// Option configures a Handler.
type Option func(*Handler)

// WithAllowOrigin lets browser pages of origin (e.g.
// "https://reports.example.com") read the API: CORS headers on answers and
// preflights. "*" allows any origin; several origins may be given separated
// by commas; "" (the default) allows none.
func WithAllowOrigin(origin string) Option {
	return func(h *Handler) {
		h.origins = nil
		for o := range strings.SplitSeq(origin, ",") {
			if o = strings.TrimSpace(o); o != "" {
				h.origins = append(h.origins, strings.TrimSuffix(o, "/"))
			}
		}
	}
}

// WithLogger sets where request lines and internal errors are logged
// (default: discarded).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// WithPageSize sets how many rows a history page holds (at least 1).
func WithPageSize(n int) Option { return func(h *Handler) { h.pageSize = max(n, 1) } }

// New returns the read API over reports and market data; either may be nil,
// and its routes then answer 404.
func New(reports Reports, market MarketData, opts ...Option) *Handler {
	h := &Handler{reports: reports, markets: market, log: slog.New(slog.DiscardHandler), pageSize: DefaultPageSize}
	for _, o := range opts {
		o(h)
	}
	return h
}

// ServeHTTP answers one request and logs it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := h.serve(w, r)
	h.log.InfoContext(r.Context(), "request", "method", r.Method, "path", r.URL.EscapedPath(),
		"status", status, "ms", float64(time.Since(start).Microseconds())/1000)
}

// Methods the routes allow.
const allow = "GET, HEAD, OPTIONS"

// serve answers r and returns the status written.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) int {
	h.cors(w, r)
	rt, err := parseRoute(r.URL)
	if err != nil {
		return h.fail(w, r, err)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		return h.options(w, r)
	default:
		w.Header().Set("Allow", allow)
		return h.fail(w, r, errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "method %s is not allowed: use GET or HEAD", r.Method))
	}
	q, err := parseQuery(r.URL.RawQuery, rt.params()...)
	if err != nil {
		return h.fail(w, r, err)
	}
	a, err := h.answer(r.Context(), rt, q)
	if err != nil {
		return h.fail(w, r, err)
	}
	return h.ok(w, r, a)
}

// routeKind is which of the four routes a request is for.
type routeKind int

const (
	routeDatapoint routeKind = iota
	routeReport
	routeLatest
	routeHistory
)

// route is a request's route and its path parameter.
type route struct {
	kind routeKind
	job  markets.Job
	arg  string // the datapoint or the report, unescaped
}

// params are the query parameters the route takes.
func (rt route) params() []string {
	switch rt.kind {
	case routeReport:
		return []string{"day"}
	case routeHistory:
		return []string{"ticker", "start", "end", "cursor"}
	}
	return nil
}

// parseRoute finds the route of u's path. Each segment is unescaped on its
// own, so a datapoint may hold an escaped "/" (%2F).
func parseRoute(u *url.URL) (route, error) {
	rest, ok := strings.CutPrefix(u.EscapedPath(), "/api/")
	if !ok {
		return route{}, notFound("no route %s: the API's routes start with /api/", u.EscapedPath())
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		v, err := url.PathUnescape(s)
		if err != nil {
			return route{}, errorf(http.StatusBadRequest, codeInvalid, "the path is not correctly escaped: %v", err)
		}
		segs[i] = v
	}
	switch {
	case len(segs) == 2 && segs[0] == "datapoints" && segs[1] != "":
		return route{kind: routeDatapoint, arg: segs[1]}, nil
	case len(segs) == 2 && segs[0] == "reports" && segs[1] != "":
		return route{kind: routeReport, arg: segs[1]}, nil
	case len(segs) == 2 && segs[1] == "latest":
		job, err := markets.ParseJob(segs[0])
		if err != nil {
			return route{}, notFound("%v", err)
		}
		return route{kind: routeLatest, job: job}, nil
	case len(segs) == 1 && segs[0] != "" && segs[0] != "datapoints" && segs[0] != "reports":
		job, err := markets.ParseJob(segs[0])
		if err != nil {
			return route{}, notFound("%v", err)
		}
		return route{kind: routeHistory, job: job}, nil
	}
	return route{}, notFound("no route %s: see /api/datapoints/{datapoint}, /api/reports/{report}, /api/{job}/latest, /api/{job}?ticker=T", u.EscapedPath())
}

// parseQuery parses a query string that may hold each of names at most once
// and nothing else: a misspelt parameter is an error, not ignored.
func parseQuery(raw string, names ...string) (url.Values, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, codeInvalid, "the query string is not correctly escaped")
	}
	for k, v := range q {
		known := slices.Contains(names, k)
		switch {
		case !known && len(names) == 0:
			return nil, errorf(http.StatusBadRequest, codeInvalid, "unknown query parameter %q: this route takes none", k)
		case !known:
			return nil, errorf(http.StatusBadRequest, codeInvalid, "unknown query parameter %q: this route takes %s", k, strings.Join(names, ", "))
		case len(v) > 1:
			return nil, errorf(http.StatusBadRequest, codeInvalid, "query parameter %q is given %d times", k, len(v))
		}
	}
	return q, nil
}
