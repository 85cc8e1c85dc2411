package etl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/quandl"
	"github.com/acmecheckout/reports/internal/secrets"
)

// Warehouse is the Store the App opens, migrates and closes
// (*warehouse.Warehouse implements it).
type Warehouse interface {
	Store
	Migrate(ctx context.Context) error
	Close()
}

// Deps are what the App is built from; only Getenv and Open are required.
type Deps struct {
	// Getenv reads the configuration (os.Getenv).
	Getenv func(string) string
	// Open connects to the warehouse (warehouse.Open).
	Open func(ctx context.Context, databaseURL string) (Warehouse, error)
	// Logger receives JSON logs (default: discard).
	Logger *slog.Logger
	// HTTPClient makes the Quandl requests and the health ping (default:
	// one with a 60s timeout).
	HTTPClient *http.Client
	// Now is the clock that sets the default window (default time.Now).
	Now func() time.Time
	// ChunkDays is the longest window fetched at once (default DefaultChunkDays).
	ChunkDays int
}

// App is the markets ETL of one process: it decrypts its secrets, connects
// to the warehouse and migrates it once, on first use, then serves any number
// of runs (Lambda invocations or a command).
type App struct {
	cfg  Config
	deps Deps
	dec  secrets.Decrypter
	log  *slog.Logger

	mu      sync.Mutex
	secret  map[string]string // decrypted settings
	wh      Warehouse         // open and migrated
	fetcher *quandl.Client
}

// NewApp reads the configuration and builds the App; it connects to nothing
// yet. Errors are configuration errors.
func NewApp(ctx context.Context, d Deps) (*App, error) {
	if d.Getenv == nil || d.Open == nil {
		return nil, errors.New("etl: Deps.Getenv and Deps.Open are required")
	}
	cfg, err := ConfigFromEnv(d.Getenv)
	if err != nil {
		return nil, fmt.Errorf("etl config: %w", err)
	}
	dec, err := secrets.New(ctx, cfg.PlaintextSecrets, cfg.FunctionName)
	if err != nil {
		return nil, fmt.Errorf("etl config: %w", err)
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &App{cfg: cfg, deps: d, dec: dec, log: d.Logger, secret: map[string]string{}}, nil
}

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
// strictly; empty or null means the defaults), runs it, logs the summary and
// returns it. It returns an error, after logging, when the input is invalid,
// setup fails or any dataset failed.
func (a *App) Handle(ctx context.Context, event json.RawMessage) (Summary, error) {
	in, err := DecodeInput(event)
	if err != nil {
		a.log.ErrorContext(ctx, "markets etl rejected its input", "error", err.Error())
		return Summary{}, err
	}
	windows, err := Plan(in, a.today())
	if err != nil {
		a.log.ErrorContext(ctx, "markets etl rejected its input", "error", err.Error())
		return Summary{}, err
	}
	// Leave time to report before Lambda's deadline ends the process.
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-3*time.Second))
		defer cancel()
	}
	return a.Run(ctx, windows)
}

// Run loads windows, logs the summary, pings the health check when all went
// well, and returns the summary and Summary.Err (or the setup error).
func (a *App) Run(ctx context.Context, windows []Window) (Summary, error) {
	r, err := a.runner(ctx)
	if err != nil {
		a.log.ErrorContext(ctx, "markets etl could not start", "error", err.Error())
		return Summary{}, err
	}
	sum := r.Run(ctx, windows)
	if err := sum.Err(); err != nil {
		// The Lambda runtime answers only err: the full summary is in this line.
		a.log.ErrorContext(ctx, "markets etl failed", "error", err.Error(), "summary", sum)
		return sum, err
	}
	a.log.InfoContext(ctx, "markets etl succeeded", "summary", sum)
	a.ping(ctx)
	return sum, nil
}

// today is the current UTC date.
func (a *App) today() markets.Date { return a.deps.today() }

// today is the current UTC date by d.Now (default time.Now).
func (d Deps) today() markets.Date {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	return markets.DateOf(now().UTC())
}

// Migrate opens the warehouse and brings its schema up to date.
func (a *App) Migrate(ctx context.Context) error {
	_, err := a.warehouse(ctx)
	return err
}

// Close closes the warehouse connection, if open.
func (a *App) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.wh != nil {
		a.wh.Close()
		a.wh = nil
	}
}

// runner returns a Runner over the (once) opened warehouse and Quandl client.
func (a *App) runner(ctx context.Context) (*Runner, error) {
	wh, err := a.warehouse(ctx)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fetcher == nil {
		key, err := a.secretLocked(ctx, EnvQuandlAPIKey)
		if err != nil {
			return nil, err
		}
		c, err := quandl.New(a.cfg.QuandlBaseURL, key,
			quandl.WithConcurrency(a.cfg.Concurrency), quandl.WithHTTPClient(a.deps.HTTPClient), quandl.WithLogger(a.log))
		if err != nil {
			return nil, fmt.Errorf("etl config: %w", err)
		}
		a.fetcher = c
	}
	return &Runner{
		Fetcher: a.fetcher, Store: wh, Concurrency: a.cfg.Concurrency, ChunkDays: a.deps.ChunkDays,
		Logger: a.log, Secrets: a.secretsLocked(),
	}, nil
}

// warehouse opens and migrates the warehouse on first use; a failure is
// not remembered, so the next run tries again.
func (a *App) warehouse(ctx context.Context) (Warehouse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.wh != nil {
		return a.wh, nil
	}
	dsn, err := a.secretLocked(ctx, EnvDatabaseURL)
	if err != nil {
		return nil, err
	}
	hide := secrets.DatabaseURLSecrets(dsn)
	wh, err := a.deps.Open(ctx, dsn)
	if err != nil {
		return nil, secrets.Scrub(err, hide...)
	}
	start := time.Now()
	if err := wh.Migrate(ctx); err != nil {
		wh.Close()
		return nil, secrets.Scrub(fmt.Errorf("warehouse: %w", err), hide...)
	}
	a.log.InfoContext(ctx, "warehouse migrated", "took", time.Since(start).String())
	a.wh = wh
	return wh, nil
}

// secretLocked returns the decrypted setting name, decrypting it on first
// use only. a.mu must be held.
func (a *App) secretLocked(ctx context.Context, name string) (string, error) {
	if v, ok := a.secret[name]; ok {
		return v, nil
	}
	got, err := secrets.Resolve(ctx, a.dec, a.deps.Getenv, name)
	if err != nil {
		return "", err
	}
	a.secret[name] = got[name]
	return got[name], nil
}

// secretsLocked returns every text to keep out of logs and errors. a.mu must
// be held.
func (a *App) secretsLocked() []string {
	var out []string
	for name, v := range a.secret {
		if name == EnvDatabaseURL {
			out = append(out, secrets.DatabaseURLSecrets(v)...)
		} else {
			out = append(out, v)
		}
	}
	return append(out, a.cfg.HealthcheckURL)
}

// ping GETs HEALTHCHECK_URL, if set. A failure is logged, never returned;
// the URL, which may hold a token, is not.
func (a *App) ping(ctx context.Context) {
	if a.cfg.HealthcheckURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.HealthcheckURL, nil)
	if err == nil {
		var resp *http.Response
		if resp, err = a.deps.HTTPClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
			}
		}
	}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		a.log.WarnContext(ctx, "health check ping failed", "error", secrets.Scrub(err, a.cfg.HealthcheckURL).Error())
		return
	}
	a.log.InfoContext(ctx, "health check pinged")
}
