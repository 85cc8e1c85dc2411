package warehouse

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/testenv"
)

// TestReadPlansUseThePrimaryKey loads a few years of daily rows per series
// and checks, with EXPLAIN, that the read API's queries reach the job tables
// through their primary key only: no sequential scan, whatever the table's
// size.
func TestReadPlansUseThePrimaryKey(t *testing.T) {
	ctx := context.Background()
	w, err := Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	if err := w.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const days = 3000
	first := markets.Date{Year: 2008, Month: 1, Day: 1}
	for _, ds := range append(markets.Economics.Datasets(), markets.InterestRates.Datasets()...) {
		s := markets.Series{Dataset: ds, Columns: []string{"value"}}
		if ds.Job == markets.InterestRates {
			s.Columns = []string{"1_mo", "1_yr", "10_yr", "30_yr"}
		}
		for i := range days {
			vals := make([]string, len(s.Columns))
			for j := range vals {
				vals[j] = fmt.Sprintf("%d.%02d", i%7, j)
			}
			s.Rows = append(s.Rows, markets.Row{Date: first.AddDays(i), Values: vals})
		}
		b, err := markets.Layout(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Upsert(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.pool.Exec(ctx, "ANALYZE dw.economics; ANALYZE dw.interest_rates"); err != nil {
		t.Fatal(err)
	}
	for _, job := range []markets.Job{markets.Economics, markets.InterestRates} {
		tb, _ := job.Table()
		ds := job.Datasets()[0]
		after := []any{ds.Database, ds.Ticker, "2012-06-01", "1_mo"}[:len(tb.Key)]
		for _, q := range []struct {
			name string
			sql  string
			args []any
		}{
			{"latest", latestSQL(tb), nil},
			{"history", historySQL(tb, false), []any{ds.Ticker, "2010-01-01", "2015-12-31", 500}},
			{"history after a key", historySQL(tb, true), append([]any{ds.Ticker, "2010-01-01", "2015-12-31", 500}, after...)},
		} {
			t.Run(string(job)+" "+q.name, func(t *testing.T) {
				rows, err := w.pool.Query(ctx, "EXPLAIN "+q.sql, q.args...)
				if err != nil {
					t.Fatal(err)
				}
				var plan []string
				for rows.Next() {
					var line string
					if err := rows.Scan(&line); err != nil {
						t.Fatal(err)
					}
					plan = append(plan, line)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				text := strings.Join(plan, "\n")
				if strings.Contains(text, "Seq Scan") || !strings.Contains(text, "_pkey") {
					t.Errorf("plan reads the table without its primary key:\n%s", text)
				}
			})
		}
	}
}
