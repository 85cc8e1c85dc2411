// Package warehousetest gives tests a scratch markets warehouse holding the
// series they need, loaded the way the ETL loads them. It is for tests only.
package warehousetest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/testenv"
	"github.com/acmecheckout/reports/internal/warehouse"
)

// Load creates a fresh database (testenv.Postgres, dropped when the test
// ends), migrates it, lays out and upserts each series, analyzes the tables
// (so the planner sees their size) and returns the database's URL.
func Load(t testing.TB, series ...markets.Series) string {
	t.Helper()
	url := testenv.Postgres(t)
	ctx := context.Background()
	w, err := warehouse.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range series {
		b, err := markets.Layout(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Upsert(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	return url
}
