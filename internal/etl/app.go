// Package etl is the markets ETL (SPEC §5, §6): it plans which jobs load
// which windows, loads each series of the catalog from its source into
// every sink, gives each series a status (ok, stale, failed, retired,
// not_found) and reports a summary per job, in its answer, its logs and its
// metrics. It runs as the cmd/etl Lambda function (App.Invoke) and as the
// etl command (App.Run); cmd/etl wires the sources, sinks and secrets.
package etl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/acmecheckout/reports/internal/deadline"
	"github.com/acmecheckout/reports/internal/markets"
)

// DefaultDeadlineMargin is how long before the invocation's deadline a run
// stops loading, to report what it did (at most half the time left).
const DefaultDeadlineMargin = 5 * time.Second

// Backend is what runs load from and into, made once per process by
// Config.Connect.
type Backend struct {
	// Sources fetch the entries of each source.
	Sources map[markets.Source]Fetcher
	// Sinks store the series (the warehouse, the lake); at least one.
	Sinks []Sink
	// Close releases them (e.g. the warehouse's connections); nil for none.
	Close func()
}

// Config is what an App is made of; Catalog and Connect are required.
type Config struct {
	// Catalog is the series the jobs load.
	Catalog markets.Catalog
	// Connect makes the Backend (decrypting secrets, opening and migrating
	// the warehouse, ...). The App calls it on its first run, and again on
	// the next run after a failure.
	Connect func(ctx context.Context) (Backend, error)
	// Logger receives JSON logs (default: discard).
	Logger *slog.Logger
	// Metrics receives one EMF line per job of each run (nil: none).
	Metrics io.Writer
	// FunctionName is the EMF metrics' FunctionName dimension.
	FunctionName string
	// HealthcheckURL, if set, is requested after every run in which no
	// series failed; it may hold a token and is never logged.
	HealthcheckURL string
	// HTTPClient makes the health check request (default: 10s timeout).
	HTTPClient *http.Client
	// Concurrency and ChunkDays are the Runner's (defaults
	// DefaultConcurrency, DefaultChunkDays).
	Concurrency int
	ChunkDays   int
	// DeadlineMargin is how long before an invocation's deadline loading
	// stops (default DefaultDeadlineMargin).
	DeadlineMargin time.Duration
	// Now is the clock that dates runs (default time.Now).
	Now func() time.Time
}

// App is the markets ETL of one process: it connects on first use, then
// serves any number of runs (Lambda invocations or a command). It is safe
// for concurrent use.
type App struct {
	cfg Config

	mu      sync.Mutex
	backend *Backend // connected
}

// NewApp returns the App of cfg; it connects to nothing yet.
func NewApp(cfg Config) (*App, error) {
	if cfg.Connect == nil || len(cfg.Catalog.Series) == 0 {
		return nil, errors.New("etl: Config.Catalog and Config.Connect are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.DeadlineMargin <= 0 {
		cfg.DeadlineMargin = DefaultDeadlineMargin
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &App{cfg: cfg}, nil
}

// Today is the current UTC date by the App's clock.
func (a *App) Today() markets.Date { return markets.DateOf(a.cfg.Now().UTC()) }

// Invoke implements lambda.Handler (aws-lambda-go), so that Handle sees the
// raw payload: the library's own decoding would drop data after the first
// JSON value and fail on an empty payload. It answers the summary as JSON.
func (a *App) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	sum, err := a.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(sum)
	if err != nil {
		return nil, fmt.Errorf("marshal summary: %w", err)
	}
	return b, nil
}

// Handle is the Lambda handler: it validates the event (an Input, decoded
// strictly; empty or null means the defaults), runs it, stopping
// DeadlineMargin before ctx's deadline so that the answer is still sent, and
// returns the summary. It returns an error, after logging, when the input
// is invalid, the backend cannot connect or a series failed, was retired or
// was not found.
func (a *App) Handle(ctx context.Context, event json.RawMessage) (Summary, error) {
	in, err := DecodeInput(event)
	if err != nil {
		a.cfg.Logger.ErrorContext(ctx, "markets etl rejected its input", "error", err.Error())
		return Summary{}, err
	}
	windows, err := Plan(in, a.Today())
	if err != nil {
		a.cfg.Logger.ErrorContext(ctx, "markets etl rejected its input", "error", err.Error())
		return Summary{}, err
	}
	ctx, cancel := deadline.WithMargin(ctx, a.cfg.DeadlineMargin)
	defer cancel()
	return a.Run(ctx, windows)
}

// Run loads windows, logs each job's figures and the summary, writes the
// metrics, pings the health check when no series failed, and returns the
// summary and Summary.Err (or the error connecting).
func (a *App) Run(ctx context.Context, windows []Window) (Summary, error) {
	log := a.cfg.Logger
	b, err := a.connect(ctx)
	if err != nil {
		log.ErrorContext(ctx, "markets etl could not start", "error", err.Error())
		return Summary{}, err
	}
	r := &Runner{Catalog: a.cfg.Catalog, Sources: b.Sources, Sinks: b.Sinks,
		Concurrency: a.cfg.Concurrency, ChunkDays: a.cfg.ChunkDays, Logger: log}
	sum := r.Run(ctx, windows)
	// Reporting must not depend on the run's context, which may have ended.
	ctx = context.WithoutCancel(ctx)
	logJobs(ctx, log, sum)
	if a.cfg.Metrics != nil {
		if err := WriteEMF(a.cfg.Metrics, a.cfg.FunctionName, a.cfg.Now(), sum); err != nil {
			log.WarnContext(ctx, "metrics not written", "error", err.Error())
		}
	}
	if err := sum.Err(); err != nil {
		// The Lambda runtime answers only err: the full summary is in this line.
		log.ErrorContext(ctx, "markets etl failed", "error", err.Error(), "summary", sum)
		return sum, err
	}
	log.InfoContext(ctx, "markets etl succeeded", "summary", sum)
	a.ping(ctx)
	return sum, nil
}

// Close releases the backend, if connected. The App connects again if run
// after.
func (a *App) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.backend != nil && a.backend.Close != nil {
		a.backend.Close()
	}
	a.backend = nil
}

// connect makes the backend on first use; a failure is not remembered, so
// the next run tries again.
func (a *App) connect(ctx context.Context) (*Backend, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.backend != nil {
		return a.backend, nil
	}
	start := time.Now()
	b, err := a.cfg.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if len(b.Sinks) == 0 {
		if b.Close != nil {
			b.Close()
		}
		return nil, errors.New("etl: no sink to store series in")
	}
	a.cfg.Logger.InfoContext(ctx, "markets etl connected", "took", time.Since(start).String(), "sinks", len(b.Sinks))
	a.backend = &b
	return a.backend, nil
}

// ping GETs HealthcheckURL, if set. A failure is logged, never returned; the
// URL, which may hold a token, is not: only the transport error inside
// net/http's *url.Error (which names the host, never the path) or the status.
func (a *App) ping(ctx context.Context) {
	if a.cfg.HealthcheckURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.HealthcheckURL, nil)
	if err != nil {
		a.cfg.Logger.WarnContext(ctx, "health check ping failed", "error", "the health check URL is malformed")
		return
	}
	resp, err := a.cfg.HTTPClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
	}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		a.cfg.Logger.WarnContext(ctx, "health check ping failed", "error", err.Error())
		return
	}
	a.cfg.Logger.InfoContext(ctx, "health check pinged")
}
