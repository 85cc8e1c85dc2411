package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/purchase"
)

// Cache-Control of each kind of answer (see the package documentation).
const (
	cacheLive    = "private, no-cache"
	cacheLatest  = "private, max-age=60"
	cacheHistory = "private, max-age=300"
	cacheNever   = "no-store"
)

// answer is a successful answer: its JSON body and how long it may be kept.
type answer struct {
	body  []byte
	cache string
}

// answer computes the answer to a request for rt with query q.
func (h *Handler) answer(ctx context.Context, rt route, q url.Values) (answer, error) {
	switch rt.kind {
	case routeDatapoint:
		return h.datapoint(ctx, rt.arg)
	case routeReport:
		return h.report(ctx, rt.arg, q.Get("day"), q.Has("day"))
	case routeLatest:
		return h.latest(ctx, rt.job)
	default:
		return h.history(ctx, rt.job, q)
	}
}

// datapoint answers GET /api/datapoints/{datapoint}.
func (h *Handler) datapoint(ctx context.Context, key string) (answer, error) {
	if h.reports == nil {
		return answer{}, notFound("this API serves no reports")
	}
	// Only a datapoint of §2 is ever read: the table's other items stay internal.
	if _, err := purchase.ParseDatapoint(key); err != nil {
		return answer{}, notFound("%v", err)
	}
	c, err := h.reports.Get(ctx, key)
	if errors.Is(err, purchase.ErrNotFound) {
		return answer{}, notFound("datapoint %q has no events", key)
	}
	if err != nil {
		return answer{}, err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return answer{}, fmt.Errorf("marshal datapoint: %w", err)
	}
	return answer{body: b, cache: cacheLive}, nil
}

// report answers GET /api/reports/{report}?day=.
func (h *Handler) report(ctx context.Context, name, day string, hasDay bool) (answer, error) {
	if h.reports == nil {
		return answer{}, notFound("this API serves no reports")
	}
	r, err := purchase.ParseReport(name)
	if err != nil {
		return answer{}, notFound("%v", err)
	}
	if hasDay && day == "" {
		return answer{}, invalid("day is empty: give a day YYYY-MM-DD or no day parameter")
	}
	if err := r.CheckDay(day); err != nil {
		return answer{}, invalid("%v", err)
	}
	counts, err := h.reports.List(ctx, r, day)
	if err != nil {
		return answer{}, err
	}
	if counts == nil {
		counts = []purchase.Total{}
	}
	b, err := json.Marshal(struct {
		Body []purchase.Total `json:"body"`
	}{counts})
	if err != nil {
		return answer{}, fmt.Errorf("marshal report: %w", err)
	}
	return answer{body: b, cache: cacheLive}, nil
}

// latest answers GET /api/{job}/latest.
func (h *Handler) latest(ctx context.Context, job markets.Job) (answer, error) {
	if h.markets == nil {
		return answer{}, notFound("this API serves no market data")
	}
	b, err := h.markets.Latest(ctx, job)
	if err != nil {
		return answer{}, err
	}
	body := append([]byte(`{"body":`), appendRows(nil, b)...)
	return answer{body: append(body, '}'), cache: cacheLatest}, nil
}

// The widest window of a history request: every date a table can hold.
var (
	firstDate = markets.Date{Year: 1, Month: 1, Day: 1}
	lastDate  = markets.Date{Year: 9999, Month: 12, Day: 31}
)

// history answers GET /api/{job}?ticker=T&start=&end=&cursor=.
func (h *Handler) history(ctx context.Context, job markets.Job, q url.Values) (answer, error) {
	if h.markets == nil {
		return answer{}, notFound("this API serves no market data")
	}
	t, _ := job.Table()
	ticker := q.Get("ticker")
	if ticker == "" {
		return answer{}, invalid("ticker is required: /api/%s?ticker=T[&start=YYYY-MM-DD][&end=YYYY-MM-DD]", job)
	}
	start, err := dateParam(q, "start", firstDate)
	if err != nil {
		return answer{}, err
	}
	end, err := dateParam(q, "end", lastDate)
	if err != nil {
		return answer{}, err
	}
	if end.Time().Before(start.Time()) {
		return answer{}, invalid("start %s is after end %s", start, end)
	}
	var after []markets.Value
	if q.Has("cursor") {
		if after, err = decodeCursor(q.Get("cursor"), t, ticker); err != nil {
			return answer{}, err
		}
	}
	b, err := h.markets.History(ctx, job, ticker, start, end, after, h.pageSize+1)
	if err != nil {
		return answer{}, err
	}
	next := []byte("null")
	if len(b.Rows) > h.pageSize {
		b.Rows = b.Rows[:h.pageSize]
		cursor, err := encodeCursor(b, b.Rows[len(b.Rows)-1])
		if err != nil {
			return answer{}, err
		}
		next = append(append([]byte{'"'}, cursor...), '"')
	}
	body := append([]byte(`{"body":`), appendRows(nil, b)...)
	body = append(append(append(body, `,"next":`...), next...), '}')
	return answer{body: body, cache: cacheHistory}, nil
}

// dateParam reads the date parameter name of q, or returns def when absent.
func dateParam(q url.Values, name string, def markets.Date) (markets.Date, error) {
	if !q.Has(name) {
		return def, nil
	}
	s := q.Get(name)
	d, err := markets.ParseDate(s)
	if err == nil {
		err = d.Check()
	}
	if err != nil {
		return markets.Date{}, invalid("%s %q is not a date YYYY-MM-DD", name, s)
	}
	return d, nil
}

// Error codes of the answers.
const (
	codeInvalid          = "invalid_request"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeInternal         = "internal"
)

// clientError is an answer other than 200 and 500: its status, code and
// message are what the client sees.
type clientError struct {
	status  int
	code    string
	message string
}

func (e *clientError) Error() string { return e.message }

func errorf(status int, code, format string, a ...any) *clientError {
	return &clientError{status: status, code: code, message: fmt.Sprintf(format, a...)}
}

func invalid(format string, a ...any) *clientError {
	return errorf(http.StatusBadRequest, codeInvalid, format, a...)
}

func notFound(format string, a ...any) *clientError {
	return errorf(http.StatusNotFound, codeNotFound, format, a...)
}
