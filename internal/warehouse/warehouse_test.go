package warehouse_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/testenv"
	"github.com/acmecheckout/reports/internal/warehouse"
)

func TestMigrateTwiceIsANoOp(t *testing.T) {
	url := testenv.Postgres(t)
	w := mustOpen(t, url)
	conn := mustConn(t, url)
	ctx := context.Background()

	if err := w.Migrate(ctx); err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	const applied = "SELECT version, name, applied_at, xmin FROM dw.schema_migrations ORDER BY version"
	first := mustQuery(t, conn, applied)
	if len(first) == 0 || !strings.HasPrefix(first[0], "1|markets_tables|") {
		t.Fatalf("dw.schema_migrations = %q, want migration 1 recorded", first)
	}
	if err := w.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if second := mustQuery(t, conn, applied); strings.Join(second, "\n") != strings.Join(first, "\n") {
		t.Errorf("second Migrate changed dw.schema_migrations:\n%q\nwant\n%q", second, first)
	}
	mustHaveTables(t, conn)
}

func TestMigrateConcurrently(t *testing.T) {
	url := testenv.Postgres(t)
	const coldStarts = 4
	var warehouses []*warehouse.Warehouse
	for range coldStarts {
		warehouses = append(warehouses, mustOpen(t, url)) // one pool each, as separate Lambdas
	}
	errs := make(chan error, coldStarts)
	var wg sync.WaitGroup
	for _, w := range warehouses {
		wg.Go(func() { errs <- w.Migrate(context.Background()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	conn := mustConn(t, url)
	if got := mustQuery(t, conn, "SELECT version FROM dw.schema_migrations"); strings.Join(got, ",") != "1" {
		t.Errorf("dw.schema_migrations versions = %q, want each migration recorded once", got)
	}
	mustHaveTables(t, conn)
}

func TestOpenErrorsNameNoSecret(t *testing.T) {
	closed := "127.0.0.1:" + testenv.FreePort(t)
	testCases := []struct {
		name    string
		url     string
		secrets []string
	}{
		{"malformed", "postgres://etl:s3cret-pw@db.internal.example:notaport/prod", []string{"s3cret-pw", "db.internal.example", "etl"}},
		{"malformed key value", "host=db.internal.example password='s3cret-pw user=etl", []string{"s3cret-pw", "db.internal.example", "etl"}},
		{"unreachable", "postgres://etl:s3cret-pw@" + closed + "/prod?connect_timeout=5", []string{"s3cret-pw", closed, "etl"}},
		{"refused by the server", "postgres://postgres:s3cret-pw@127.0.0.1:5432/no_such_db?sslmode=disable", []string{"s3cret-pw", "127.0.0.1"}},
	}
	for i, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			w, err := warehouse.Open(ctx, tc.url)
			if err == nil {
				w.Close()
				t.Fatalf("%d: Open succeeded, want an error", i)
			}
			if !strings.HasPrefix(err.Error(), "open warehouse: ") {
				t.Errorf("error %q does not say it is opening the warehouse", err)
			}
			for _, s := range append(tc.secrets, tc.url) {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q reveals %q", err, s)
				}
			}
			t.Logf("error: %v", err)
		})
	}
}

func TestOpenHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := warehouse.Open(ctx, testenv.DefaultPostgresURL)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context: %v, want context.Canceled", err)
	}
}

// mustOpen opens the warehouse at url, closed when the test ends.
func mustOpen(t testing.TB, url string) *warehouse.Warehouse {
	t.Helper()
	w, err := warehouse.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(w.Close)
	return w
}

// mustMigrated returns a migrated warehouse in a fresh database and a
// separate connection to read it with.
func mustMigrated(t testing.TB) (*warehouse.Warehouse, *pgx.Conn) {
	t.Helper()
	url := testenv.Postgres(t)
	w := mustOpen(t, url)
	if err := w.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return w, mustConn(t, url)
}

// mustConn connects to url, closed when the test ends.
func mustConn(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// mustQuery runs sql and returns each row as its columns' text, exactly as
// PostgreSQL prints them, joined by "|"; NULL is "NULL".
func mustQuery(t testing.TB, conn *pgx.Conn, sql string, args ...any) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var cols []string
		for _, v := range rows.RawValues() { // text format under the simple protocol
			if v == nil {
				cols = append(cols, "NULL")
			} else {
				cols = append(cols, string(v))
			}
		}
		out = append(out, strings.Join(cols, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func mustHaveTables(t testing.TB, conn *pgx.Conn) {
	t.Helper()
	got := mustQuery(t, conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'dw' ORDER BY 1")
	want := "currency,economics,equities,interest_rates,markets,real_estate,schema_migrations"
	if strings.Join(got, ",") != want {
		t.Errorf("dw tables = %q, want %s", got, want)
	}
}

// TestMigrationsMatchTables checks that the migrated dw tables have exactly
// the columns, types and keys of markets.Tables, the one definition the
// ETL, the lake and the read API share.
func TestMigrationsMatchTables(t *testing.T) {
	_, conn := mustMigrated(t)
	sqlType := map[markets.Kind]string{markets.Text: "text", markets.Day: "date", markets.Decimal: "numeric"}
	for _, tb := range markets.Tables() {
		var want []string
		for _, c := range tb.Columns {
			want = append(want, c.Name+" "+sqlType[c.Kind])
		}
		got := mustQuery(t, conn, `SELECT column_name || ' ' || data_type FROM information_schema.columns
			WHERE table_schema = 'dw' AND table_name = $1 ORDER BY ordinal_position`, tb.Name)
		if !slices.Equal(got, want) {
			t.Errorf("dw.%s columns %q, want %q", tb.Name, got, want)
		}
		key := mustQuery(t, conn, `SELECT a.attname FROM pg_index i
			JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
			WHERE i.indrelid = ('dw.' || $1)::regclass AND i.indisprimary ORDER BY k.n`, tb.Name)
		if !slices.Equal(key, tb.Key) {
			t.Errorf("dw.%s primary key %q, want %q", tb.Name, key, tb.Key)
		}
	}
}
