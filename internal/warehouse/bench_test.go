package warehouse_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/acmecheckout/reports/internal/bench"
	"github.com/acmecheckout/reports/internal/markets"
)

// benchRows is the size of the series both designs load.
const benchRows = 100_000

// BenchmarkUpsert loads the same 100,000 equities rows (one ticker, all 12
// value columns) with Upsert and with the original design, one UPDATE and, if
// it matched nothing, one INSERT per row (both in one transaction, which
// favours the original). Each reports rows/s, so one run gives the ratio:
//
//	go test -run '^$' -bench Upsert -benchtime 1x ./internal/warehouse/
func BenchmarkUpsert(b *testing.B) {
	w, conn := mustMigrated(b)
	s := bench.EquitiesSeries(benchRows)
	ctx := context.Background()
	empty := func(b *testing.B) {
		b.Helper()
		b.StopTimer()
		mustExec(b, conn, "TRUNCATE dw.equities")
		b.StartTimer()
	}

	b.Run("batched/new-rows", func(b *testing.B) {
		for range b.N {
			empty(b)
			if n := mustUpsert(b, w, s); n != benchRows {
				b.Fatalf("Upsert wrote %d rows, want %d", n, benchRows)
			}
		}
		reportRows(b)
	})
	b.Run("batched/unchanged-rows", func(b *testing.B) {
		mustUpsert(b, w, s)
		b.ResetTimer()
		for range b.N {
			if n := mustUpsert(b, w, s); n != 0 {
				b.Fatalf("re-run wrote %d rows, want 0", n)
			}
		}
		reportRows(b)
	})
	b.Run("row-by-row/new-rows", func(b *testing.B) {
		for range b.N {
			empty(b)
			if err := upsertRowByRow(ctx, conn, s); err != nil {
				b.Fatal(err)
			}
		}
		reportRows(b)
	})
	if got := mustQuery(b, conn, "SELECT count(*) FROM dw.equities"); got[0] != fmt.Sprint(benchRows) {
		b.Fatalf("dw.equities holds %s rows, want %d", got[0], benchRows)
	}
}

// reportRows reports the rate of benchRows rows per iteration.
func reportRows(b *testing.B) {
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// upsertRowByRow is the design Upsert replaces: per row, an UPDATE and, when
// it matched no row, an INSERT.
func upsertRowByRow(ctx context.Context, conn *pgx.Conn, s markets.Series) error {
	var sets, casts []string
	for i, c := range s.Columns {
		sets = append(sets, fmt.Sprintf("%s = $%d::numeric", c, i+4))
		casts = append(casts, fmt.Sprintf("$%d::numeric", i+4))
	}
	update := "UPDATE dw.equities SET " + strings.Join(sets, ", ") + " WHERE dataset = $1 AND ticker = $2 AND date = $3"
	insert := "INSERT INTO dw.equities (dataset, ticker, date, " + strings.Join(s.Columns, ", ") + ") VALUES ($1, $2, $3, " + strings.Join(casts, ", ") + ")"

	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		args := make([]any, 3+len(s.Columns))
		args[0], args[1] = s.Dataset.Database, s.Dataset.Ticker
		for _, r := range s.Rows {
			args[2] = pgtype.Date{Time: r.Date.Time(), Valid: true}
			for i, v := range r.Values {
				args[3+i] = pgtype.Text{String: v, Valid: v != ""}
			}
			tag, err := tx.Exec(ctx, update, args...)
			if err != nil {
				return fmt.Errorf("update %s %s: %w", s.Dataset, r.Date, err)
			}
			if tag.RowsAffected() == 0 {
				if _, err := tx.Exec(ctx, insert, args...); err != nil {
					return fmt.Errorf("insert %s %s: %w", s.Dataset, r.Date, err)
				}
			}
		}
		return nil
	})
}
