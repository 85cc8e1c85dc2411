package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/acmecheckout/reports/internal/etl"
	"github.com/acmecheckout/reports/internal/fred"
	"github.com/acmecheckout/reports/internal/lake"
	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/quandl"
	"github.com/acmecheckout/reports/internal/secrets"
	"github.com/acmecheckout/reports/internal/warehouse"
	"github.com/acmecheckout/reports/internal/webapi"
)

// wiring is what one process is built from: its configuration, catalog,
// settings and logger.
type wiring struct {
	cfg     config
	catalog markets.Catalog
	getenv  func(string) string
	logger  *slog.Logger
}

// newWiring reads the configuration and the catalog (catalogFlag, when not
// empty, instead of ETL_CATALOG) and checks that the catalog can run. Its
// errors are configuration errors; it connects to nothing.
func newWiring(getenv func(string) string, catalogFlag string, logger *slog.Logger) (*wiring, error) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return nil, err
	}
	path, setting := cfg.catalogPath, envCatalog
	if catalogFlag != "" {
		path, setting = catalogFlag, "--catalog"
	}
	cat, err := loadCatalog(path, setting)
	if err != nil {
		return nil, err
	}
	if err := checkSettings(cat, getenv); err != nil {
		return nil, err
	}
	return &wiring{cfg: cfg, catalog: cat, getenv: getenv, logger: logger}, nil
}

// appConfig returns the App's configuration: the catalog, and a Connect that
// decrypts the secrets the catalog needs (each once per process), opens and
// migrates the warehouse and builds the source clients. metrics receives
// the EMF lines (nil: none).
func (w *wiring) appConfig(ctx context.Context, metrics io.Writer) (etl.Config, error) {
	dec, err := secrets.FromEnv(ctx, w.getenv)
	if err != nil {
		return etl.Config{}, err
	}
	keys := secrets.NewCache(dec, w.getenv)
	return etl.Config{
		Catalog:        w.catalog,
		Connect:        func(ctx context.Context) (etl.Backend, error) { return w.connect(ctx, keys) },
		Logger:         w.logger,
		Metrics:        metrics,
		FunctionName:   w.cfg.functionName,
		HealthcheckURL: w.cfg.healthcheckURL,
		Concurrency:    max(etl.DefaultConcurrency, w.cfg.quandlConcurrency),
	}, nil
}

// connect builds the backend: the sinks, then the clients of the sources the
// catalog uses. What it opened is closed again when a later step fails.
func (w *wiring) connect(ctx context.Context, keys *secrets.Cache) (_ etl.Backend, err error) {
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	b := etl.Backend{Close: closeAll}
	// The sinks: the warehouse and the lake (SPEC §7), either or both.
	if w.getenv(envDatabaseURL) != "" {
		wh, err := openWarehouse(ctx, keys, w.logger)
		if err != nil {
			return etl.Backend{}, err
		}
		closers = append(closers, wh.Close)
		b.Sinks = append(b.Sinks, wh)
	}
	if u := w.getenv(envLakeURL); u != "" {
		l, err := lake.Open(ctx, u, lake.WithLogger(w.logger))
		if err != nil {
			return etl.Backend{}, err
		}
		b.Sinks = append(b.Sinks, l)
	}

	b.Sources = map[markets.Source]etl.Fetcher{}
	opts := []webapi.Option{webapi.WithLogger(w.logger)}
	if w.catalog.Count(markets.SourceQuandl)+w.catalog.Count(markets.SourceQuandlTable) > 0 {
		key, err := keys.Get(ctx, envQuandlAPIKey)
		if err != nil {
			return etl.Backend{}, err
		}
		c, err := quandl.New(w.cfg.quandlBaseURL, key, append(opts, webapi.WithConcurrency(w.cfg.quandlConcurrency))...)
		if err != nil {
			return etl.Backend{}, err
		}
		b.Sources[markets.SourceQuandl], b.Sources[markets.SourceQuandlTable] = c, c
	}
	if w.catalog.Count(markets.SourceFRED) > 0 {
		key, err := keys.Get(ctx, envFredAPIKey)
		if err != nil {
			return etl.Backend{}, err
		}
		c, err := fred.New(w.cfg.fredBaseURL, key, opts...)
		if err != nil {
			return etl.Backend{}, err
		}
		b.Sources[markets.SourceFRED] = c
	}
	return b, nil
}

// openWarehouse opens the warehouse DATABASE_URL names and migrates it. Its
// errors never hold the URL, user, host or password (warehouse's own).
func openWarehouse(ctx context.Context, keys *secrets.Cache, logger *slog.Logger) (*warehouse.Warehouse, error) {
	dsn, err := keys.Get(ctx, envDatabaseURL)
	if err != nil {
		return nil, err
	}
	wh, err := warehouse.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := wh.Migrate(ctx); err != nil {
		wh.Close()
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	logger.InfoContext(ctx, "warehouse migrated", "took", time.Since(start).String())
	return wh, nil
}
