// Package warehouse loads the markets ETL's time series into PostgreSQL
// schema dw (SPEC §5): embedded, versioned migrations and one batched,
// idempotent upsert per series.
package warehouse

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Warehouse is a connection pool to the markets warehouse. It is safe for
// concurrent use.
type Warehouse struct {
	pool *pgxpool.Pool
}

// Open connects to the PostgreSQL database at databaseURL and checks that it
// answers. Its errors never contain the URL, the user, the host or the
// password: only the kind of failure.
func Open(ctx context.Context, databaseURL string) (*Warehouse, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx's parse errors quote the URL (best-effort redacted) and wrap
		// net/url errors that quote it verbatim: drop them all.
		return nil, errors.New("open warehouse: the database URL is malformed")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open warehouse: %w", redact(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open warehouse: %w", redact(err))
	}
	return &Warehouse{pool: pool}, nil
}

// Close closes the pool's connections.
func (w *Warehouse) Close() { w.pool.Close() }

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the pg_advisory_xact_lock key that serializes migrations
// of concurrent cold starts.
const migrationLock = 0x6477_6d69_6772 // "dwmigr"

// migration is one file of migrations/, NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// Migrate applies the embedded migrations the database has not seen yet, in
// version order, each in its own transaction under an advisory lock, and
// records them in dw.schema_migrations. Running it again, or concurrently from
// several processes, is safe and changes nothing.
func (w *Warehouse) Migrate(ctx context.Context) error {
	migrations, err := loadMigrations(migrationFiles)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range migrations {
		if err := w.apply(ctx, m); err != nil {
			return fmt.Errorf("migrate %04d_%s: %w", m.version, m.name, redact(err))
		}
	}
	return nil
}

// apply runs m unless dw.schema_migrations records it already.
func (w *Warehouse) apply(ctx context.Context, m migration) error {
	return pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		const bootstrap = `
			CREATE SCHEMA IF NOT EXISTS dw;
			CREATE TABLE IF NOT EXISTS dw.schema_migrations (
				version    integer     PRIMARY KEY,
				name       text        NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now()
			)`
		if _, err := tx.Exec(ctx, bootstrap); err != nil {
			return fmt.Errorf("create dw.schema_migrations: %w", err)
		}
		var applied bool
		err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM dw.schema_migrations WHERE version = $1)", m.version).Scan(&applied)
		if err != nil {
			return fmt.Errorf("read dw.schema_migrations: %w", err)
		}
		if applied {
			return nil
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO dw.schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return fmt.Errorf("record: %w", err)
		}
		return nil
	})
}

// loadMigrations reads migrations/NNNN_name.sql from fsys, sorted by version.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	paths, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, p := range paths {
		base := strings.TrimSuffix(strings.TrimPrefix(p, "migrations/"), ".sql")
		num, name, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 || name == "" {
			return nil, fmt.Errorf("%s: want migrations/NNNN_name.sql", p)
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("%s: version %d already used by %s", p, version, other)
		}
		seen[version] = p
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: version, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// redact replaces an error that could name the user, database or host with
// one that says only what went wrong: a connection failure (pgx names the
// user, database and host) and a network error (it names the address).
// SQL errors (the server's message never contains the password or host) and
// context errors pass through unchanged.
func redact(err error) error {
	var connErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	var netErr net.Error
	switch {
	case errors.As(err, &connErr):
		return redactConnect(err)
	case errors.As(err, &pgErr), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &netErr) && netErr.Timeout():
		return errors.New("database connection: timed out")
	case errors.As(err, &netErr):
		return errors.New("database connection: network error")
	}
	return err
}

// redactConnect describes a failure to connect by its kind only.
func redactConnect(err error) error {
	var pgErr *pgconn.PgError
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("connect to database: %w", context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("connect to database: %w", context.DeadlineExceeded)
	case errors.As(err, &pgErr):
		// The server's own message (e.g. "password authentication failed")
		// never contains the password.
		return fmt.Errorf("connect to database: server refused: %s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connect to database: connection refused")
	case errors.As(err, &netErr) && netErr.Timeout():
		return errors.New("connect to database: timed out")
	case errors.As(err, &netErr):
		return errors.New("connect to database: network error")
	default:
		return errors.New("connect to database: failed")
	}
}
