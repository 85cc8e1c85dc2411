package etl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/acmecheckout/reports/internal/markets"
)

// Fetcher returns a catalog entry's observations dated start to end
// inclusive (*quandl.Client for quandl and quandl-table entries,
// *fred.Client for fred ones). Its errors match markets.ErrRetired or
// markets.ErrNotFound when the provider says so, and context.DeadlineExceeded
// when no request could finish before ctx's deadline.
type Fetcher interface {
	Fetch(ctx context.Context, e markets.Entry, start, end markets.Date) (markets.Series, error)
}

// Sink stores laid-out series (the warehouse, the lake).
type Sink interface {
	// Upsert writes b and returns how many rows it inserted or changed.
	Upsert(ctx context.Context, b markets.Batch) (int, error)
	// Newest returns the newest date stored for the series (ok=false when it has none).
	Newest(ctx context.Context, job markets.Job, dataset, ticker string) (d markets.Date, ok bool, err error)
}

// Defaults of a Runner.
const (
	// DefaultChunkDays is the longest window fetched in one request: long
	// windows are loaded a year at a time.
	DefaultChunkDays = 366
	// DefaultConcurrency is how many series load at once. Each source
	// client bounds its own requests in flight (Nasdaq Data Link: one), so
	// this only lets series of different providers, and a sink's writes,
	// overlap.
	DefaultConcurrency = 4
)

// Runner loads the catalog's series of the planned jobs from their sources
// into every sink. Every series is attempted: one that fails is reported in
// the Summary and does not stop the others. A series is ok only when every
// sink took it; its incremental window starts from the oldest of the sinks'
// newest dates, so that a lagging sink catches up.
type Runner struct {
	Catalog markets.Catalog
	Sources map[markets.Source]Fetcher
	Sinks   []Sink
	// Concurrency is how many series load at once (default DefaultConcurrency).
	Concurrency int
	// ChunkDays is the longest window fetched at once (default DefaultChunkDays).
	ChunkDays int
	// Logger receives progress (one line per chunk), each series' outcome
	// (stale at WARN, failures at ERROR) (default: discard).
	Logger *slog.Logger
}

// Run loads every series of every window and returns what happened. When
// ctx's deadline passes, the series not reached yet end failed with reason
// deadline; Run returns as soon as those in progress stop.
func (r *Runner) Run(ctx context.Context, windows []Window) Summary {
	sum := Summary{Jobs: make([]JobSummary, len(windows))}
	var g errgroup.Group // not WithContext: one series failing must not stop the others
	g.SetLimit(r.concurrency())
	for j, w := range windows {
		entries := r.Catalog.Job(w.Job)
		sum.Jobs[j] = JobSummary{Job: w.Job, EndDate: w.End, Tickers: make([]TickerSummary, len(entries))}
		for t, e := range entries {
			g.Go(func() error {
				sum.Jobs[j].Tickers[t] = r.load(ctx, e, w)
				return nil
			})
		}
	}
	_ = g.Wait() // the tasks report in the summary, never by error
	sum.tally()
	return sum
}

// load loads one series over its window, a chunk at a time, into every
// sink, stopping at the first failure (chunks already stored stay: a re-run
// is idempotent), and reports its outcome.
func (r *Runner) load(ctx context.Context, e markets.Entry, w Window) TickerSummary {
	ts := TickerSummary{Dataset: e.Database, Ticker: e.Ticker, Source: e.Source, Code: e.Code, EndDate: w.End}
	log := r.logger().With("job", string(e.Job), "dataset", e.String(), "source", string(e.Source), "code", e.Code)
	ts.Status = StatusOK
	if err := r.loadInto(ctx, e, w, &ts, log); err != nil {
		ts.Error = err.Error()
	}
	switch {
	case ts.Status != StatusOK:
	case ts.NewestDate == nil || ts.NewestDate.AddDays(e.StaleAfterDays).Before(w.End):
		ts.Status = StatusStale
	}
	ts.Action = action(ts, e.StaleAfterDays)
	attrs := []any{"status", string(ts.Status), "startDate", ts.StartDate, "endDate", ts.EndDate.String(), "newestDate", ts.NewestDate,
		"rowsFetched", ts.RowsFetched, "rowsWritten", ts.RowsWritten}
	switch ts.Status {
	case StatusOK:
		log.InfoContext(ctx, "series loaded", attrs...)
	case StatusStale:
		log.WarnContext(ctx, "series is stale", append(attrs, "action", ts.Action)...)
	default:
		log.ErrorContext(ctx, "series did not load", append(attrs, "reason", string(ts.Reason), "error", ts.Error, "action", ts.Action)...)
	}
	return ts
}

// loadInto does load's work, filling in ts as it goes; a failure sets
// ts.Status and ts.Reason and is returned.
func (r *Runner) loadInto(ctx context.Context, e markets.Entry, w Window, ts *TickerSummary, log *slog.Logger) error {
	fail := func(status Status, reason Reason, err error) error {
		ts.Status, ts.Reason = status, reason
		if status != StatusFailed {
			ts.Reason = ""
		}
		return err
	}
	if err := ctx.Err(); err != nil {
		return fail(StatusFailed, reasonOf(ReasonSource, err), fmt.Errorf("not reached: %w", err))
	}
	fetcher := r.Sources[e.Source]
	if fetcher == nil {
		return fail(StatusFailed, ReasonSource, fmt.Errorf("no client for source %q (is its API key set?)", e.Source))
	}
	if len(r.Sinks) == 0 {
		return fail(StatusFailed, ReasonSink, errors.New("no sink to store it in"))
	}

	// What each sink holds decides the window and, after the run, the
	// series' newest date: the oldest of the sinks'.
	newest := make([]*markets.Date, len(r.Sinks))
	for i, s := range r.Sinks {
		d, ok, err := s.Newest(ctx, e.Job, e.Database, e.Ticker)
		if err != nil {
			return fail(StatusFailed, reasonOf(ReasonSink, err), err)
		}
		if ok {
			newest[i] = &d
		}
	}
	defer func() { ts.NewestDate = oldest(newest) }()
	from, stored := markets.Date{}, false
	if d := oldest(newest); d != nil {
		from, stored = *d, true
	}
	start := w.SeriesStart(from, stored)
	ts.StartDate = &start

	parts := chunks(start, w.End, r.chunkDays())
	for i, c := range parts {
		s, err := fetcher.Fetch(ctx, e, c[0], c[1])
		switch {
		case errors.Is(err, markets.ErrRetired):
			return fail(StatusRetired, "", err)
		case errors.Is(err, markets.ErrNotFound):
			return fail(StatusNotFound, "", err)
		case err != nil:
			return fail(StatusFailed, reasonOf(ReasonSource, err), err)
		}
		ts.RowsFetched += len(s.Rows)
		b, err := markets.Layout(s)
		if err != nil {
			return fail(StatusFailed, ReasonInvalid, err)
		}
		written, err := r.store(ctx, b, s, newest)
		ts.RowsWritten += written
		if err != nil {
			return fail(StatusFailed, reasonOf(ReasonSink, err), err)
		}
		log.InfoContext(ctx, "loaded", "chunk", fmt.Sprintf("%d/%d", i+1, len(parts)),
			"start", c[0].String(), "end", c[1].String(), "rowsFetched", len(s.Rows), "rowsWritten", written)
	}
	return nil
}

// store upserts b into every sink, even after one fails, and advances each
// sink's newest date by the series' rows it took. It returns the rows
// written over all sinks and the first error.
func (r *Runner) store(ctx context.Context, b markets.Batch, s markets.Series, newest []*markets.Date) (int, error) {
	var last *markets.Date
	for _, row := range s.Rows {
		if last == nil || last.Before(row.Date) {
			last = &row.Date
		}
	}
	written := 0
	var first error
	for i, sink := range r.Sinks {
		n, err := sink.Upsert(ctx, b)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		written += n
		if last != nil && (newest[i] == nil || newest[i].Before(*last)) {
			newest[i] = last
		}
	}
	return written, first
}

// oldest returns the earliest of dates, or nil when any is nil (a sink that
// holds nothing of the series).
func oldest(dates []*markets.Date) *markets.Date {
	var out *markets.Date
	for _, d := range dates {
		if d == nil {
			return nil
		}
		if out == nil || d.Before(*out) {
			out = d
		}
	}
	return out
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Runner) concurrency() int {
	if r.Concurrency < 1 {
		return DefaultConcurrency
	}
	return r.Concurrency
}

func (r *Runner) chunkDays() int {
	if r.ChunkDays < 1 {
		return DefaultChunkDays
	}
	return r.ChunkDays
}
