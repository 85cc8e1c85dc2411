package etl

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/secrets"
)

// Fetcher returns a dataset's observations dated start to end inclusive
// (*quandl.Client implements it).
type Fetcher interface {
	Fetch(ctx context.Context, ds markets.Dataset, start, end markets.Date) (markets.Series, error)
}

// Store upserts a series laid out as rows of its job's table (markets.Layout)
// and returns how many rows it inserted or changed (*warehouse.Warehouse
// implements it).
type Store interface {
	Upsert(ctx context.Context, b markets.Batch) (int, error)
}

// DefaultChunkDays is the longest window fetched in one request: long
// windows are loaded a year at a time.
const DefaultChunkDays = 366

// Runner loads the datasets of jobs from a Fetcher into a Store. Every
// dataset is attempted: one that fails is reported in the Summary and does
// not stop the others.
type Runner struct {
	Fetcher Fetcher
	Store   Store
	// Concurrency is how many datasets load at once (default 1).
	Concurrency int
	// ChunkDays is the longest window fetched at once (default DefaultChunkDays).
	ChunkDays int
	// Logger receives progress (one line per chunk) and failures (default: discard).
	Logger *slog.Logger
	// Secrets are scrubbed from every error text the Runner reports or logs.
	Secrets []string
}

// Run loads every dataset of every window and returns what happened.
func (r *Runner) Run(ctx context.Context, windows []Window) Summary {
	type task struct {
		job, ticker int
		ds          markets.Dataset
		w           Window
	}
	sum := Summary{Jobs: make([]JobSummary, len(windows))}
	var tasks []task
	for j, w := range windows {
		dss := w.Job.Datasets()
		sum.Jobs[j] = JobSummary{Job: w.Job, StartDate: w.Start.String(), EndDate: w.End.String(), Tickers: make([]TickerSummary, len(dss))}
		for t, ds := range dss {
			tasks = append(tasks, task{j, t, ds, w})
		}
	}

	work := make(chan task)
	var wg sync.WaitGroup
	for range max(r.Concurrency, 1) {
		wg.Go(func() {
			for tk := range work {
				sum.Jobs[tk.job].Tickers[tk.ticker] = r.load(ctx, tk.ds, tk.w)
			}
		})
	}
	for _, tk := range tasks {
		work <- tk
	}
	close(work)
	wg.Wait()

	sum.tally()
	return sum
}

// load fetches and upserts ds over w, a chunk at a time, stopping at the
// first failure (chunks already written stay: a re-run is idempotent).
func (r *Runner) load(ctx context.Context, ds markets.Dataset, w Window) TickerSummary {
	log := r.logger().With("job", string(ds.Job), "dataset", ds.String())
	ts := TickerSummary{Dataset: ds.Database, Ticker: ds.Ticker}
	parts := chunks(w.Start, w.End, r.chunkDays())
	for i, c := range parts {
		n, written, err := r.loadChunk(ctx, ds, c[0], c[1])
		ts.RowsFetched += n
		ts.RowsWritten += written
		if err != nil {
			ts.Error = secrets.Scrub(err, r.Secrets...).Error()
			log.ErrorContext(ctx, "dataset failed", "start", c[0].String(), "end", c[1].String(), "error", ts.Error)
			return ts
		}
		log.InfoContext(ctx, "loaded", "chunk", fmt.Sprintf("%d/%d", i+1, len(parts)),
			"start", c[0].String(), "end", c[1].String(), "rowsFetched", n, "rowsWritten", written)
	}
	return ts
}

func (r *Runner) loadChunk(ctx context.Context, ds markets.Dataset, start, end markets.Date) (fetched, written int, err error) {
	s, err := r.Fetcher.Fetch(ctx, ds, start, end)
	if err != nil {
		return 0, 0, err
	}
	b, err := markets.Layout(s)
	if err != nil {
		return len(s.Rows), 0, err
	}
	n, err := r.Store.Upsert(ctx, b)
	if err != nil {
		return len(s.Rows), 0, err
	}
	return len(s.Rows), n, nil
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Runner) chunkDays() int {
	if r.ChunkDays < 1 {
		return DefaultChunkDays
	}
	return r.ChunkDays
}

// Summary is the outcome of a run, the Lambda function's answer.
type Summary struct {
	// OK is true when every dataset loaded.
	OK bool `json:"ok"`
	// RowsWritten counts rows inserted or changed, over all jobs.
	RowsWritten int `json:"rowsWritten"`
	// Failed counts datasets that failed.
	Failed int          `json:"failed"`
	Jobs   []JobSummary `json:"jobs"`
}

// JobSummary is one job's outcome.
type JobSummary struct {
	Job         markets.Job     `json:"job"`
	StartDate   string          `json:"startDate"`
	EndDate     string          `json:"endDate"`
	RowsFetched int             `json:"rowsFetched"`
	RowsWritten int             `json:"rowsWritten"`
	Failed      int             `json:"failed"`
	Tickers     []TickerSummary `json:"tickers"`
}

// TickerSummary is one dataset's outcome. RowsFetched counts the dates the
// API returned; RowsWritten the table rows inserted or changed (dw.
// interest_rates holds one row per date and column; unchanged rows are not
// counted, so a re-run writes 0). Error is empty when the dataset loaded.
type TickerSummary struct {
	Dataset     string `json:"dataset"`
	Ticker      string `json:"ticker"`
	RowsFetched int    `json:"rowsFetched"`
	RowsWritten int    `json:"rowsWritten"`
	Error       string `json:"error,omitempty"`
}

// tally fills in the totals from the tickers.
func (s *Summary) tally() {
	s.RowsWritten, s.Failed = 0, 0
	for i := range s.Jobs {
		j := &s.Jobs[i]
		j.RowsFetched, j.RowsWritten, j.Failed = 0, 0, 0
		for _, t := range j.Tickers {
			j.RowsFetched += t.RowsFetched
			j.RowsWritten += t.RowsWritten
			if t.Error != "" {
				j.Failed++
			}
		}
		s.RowsWritten += j.RowsWritten
		s.Failed += j.Failed
	}
	s.OK = s.Failed == 0
}

// Limits on Summary.Err's text, so that it stays readable as the Lambda
// invocation's errorMessage: each reason is cut to maxReason bytes, and
// reasons past maxReasons bytes in all are only counted.
const (
	maxReason  = 200
	maxReasons = 2000
)

// Err returns nil when every dataset loaded, and otherwise an error naming
// each dataset that failed with its (already scrubbed) reason, e.g.
// "markets etl: 2 of 14 datasets failed: WIKI/FB: ...; FRED/GDP: ...".
// The full errors are in the Summary.
func (s Summary) Err() error {
	if s.OK {
		return nil
	}
	var b strings.Builder
	total, failed, left := 0, 0, 0
	for _, j := range s.Jobs {
		total += len(j.Tickers)
		for _, t := range j.Tickers {
			if t.Error == "" {
				continue
			}
			failed++
			reason := t.Dataset + "/" + t.Ticker + ": " + truncate(t.Error, maxReason)
			if b.Len() > 0 {
				if b.Len()+len("; ")+len(reason) > maxReasons {
					left++
					continue
				}
				b.WriteString("; ")
			}
			b.WriteString(reason)
		}
	}
	if left > 0 {
		fmt.Fprintf(&b, "; and %d more", left)
	}
	return fmt.Errorf("markets etl: %d of %d datasets failed: %s", failed, total, b.String())
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "..."
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
