package warehouse

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/acmecheckout/reports/internal/markets"
)

// Upsert writes one laid-out series (markets.Layout) into its job's table and
// its dataset into dw.markets, in one transaction: the rows are copied (COPY)
// into a temporary table and merged with one INSERT … ON CONFLICT. It returns
// the number of table rows inserted or changed: rows whose values did not
// change are not rewritten, so loading the same window again returns 0.
//
// Only the batch's columns are written: a table column the batch does not
// carry keeps its stored value (NULL in a new row).
func (w *Warehouse) Upsert(ctx context.Context, b markets.Batch) (int, error) {
	n, err := w.upsert(ctx, b)
	if err != nil {
		return 0, fmt.Errorf("upsert %s: %w", b.Dataset, err)
	}
	return n, nil
}

func (w *Warehouse) upsert(ctx context.Context, b markets.Batch) (int, error) {
	ds := b.Dataset
	kinds, err := columnKinds(b)
	if err != nil {
		return 0, err
	}
	var n int64
	err = pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		const market = `
			INSERT INTO dw.markets AS t (dataset, ticker, description) VALUES ($1, $2, $3)
			ON CONFLICT (dataset, ticker) DO UPDATE SET description = excluded.description
			WHERE t.description IS DISTINCT FROM excluded.description`
		if _, err := tx.Exec(ctx, market, ds.Database, ds.Ticker, ds.Description); err != nil {
			return fmt.Errorf("dw.markets: %w", err)
		}
		if len(b.Rows) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, stageSQL(b.Columns, kinds)); err != nil {
			return fmt.Errorf("create staging table: %w", err)
		}
		row := make([]any, len(b.Columns))
		rows := pgx.CopyFromSlice(len(b.Rows), func(i int) ([]any, error) {
			for c, v := range b.Rows[i] {
				row[c] = param(kinds[c], v)
			}
			return row, nil
		})
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stage"}, b.Columns, rows); err != nil {
			return fmt.Errorf("copy into staging table: %w", err)
		}
		tag, err := tx.Exec(ctx, mergeSQL(b.Table, b.Columns, kinds))
		if err != nil {
			return fmt.Errorf("dw.%s: %w", b.Table.Name, err)
		}
		n = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, redact(err)
	}
	return int(n), nil
}

// columnKinds returns the kind of each of the batch's columns, checking that
// each is a column of its table and that the key is complete.
func columnKinds(b markets.Batch) ([]markets.Kind, error) {
	kinds := make([]markets.Kind, len(b.Columns))
	for i, c := range b.Columns {
		at := b.Table.Index(c)
		if at < 0 {
			return nil, fmt.Errorf("column %q is not a column of dw.%s", c, b.Table.Name)
		}
		kinds[i] = b.Table.Columns[at].Kind
	}
	for _, k := range b.Table.Key {
		if b.Column(k) < 0 {
			return nil, fmt.Errorf("batch lacks key column %q of dw.%s", k, b.Table.Name)
		}
	}
	return kinds, nil
}

// stageSQL creates the transaction's staging table, dropped at commit: dates
// as date, everything else as text (decimals are cast to numeric on merge, so
// no precision is lost on the way).
func stageSQL(cols []string, kinds []markets.Kind) string {
	defs := make([]string, len(cols))
	for i, c := range cols {
		typ := "text"
		if kinds[i] == markets.Day {
			typ = "date"
		}
		defs[i] = pgx.Identifier{c}.Sanitize() + " " + typ
	}
	return "CREATE TEMPORARY TABLE stage (" + strings.Join(defs, ", ") + ") ON COMMIT DROP"
}

// mergeSQL moves the staging table into the job's table. A row whose written
// columns are all unchanged is not rewritten and does not count.
//
//	INSERT INTO dw.economics AS t ("dataset", "ticker", "date", "value")
//	SELECT s."dataset", s."ticker", s."date", s."value"::numeric
//	FROM pg_temp.stage AS s
//	ON CONFLICT ("dataset", "ticker", "date") DO UPDATE SET "value" = excluded."value"
//	WHERE (t."value") IS DISTINCT FROM (excluded."value")
func mergeSQL(t markets.Table, cols []string, kinds []markets.Kind) string {
	quoted := make([]string, len(cols))
	selects := make([]string, len(cols))
	var sets, olds, news []string
	for i, c := range cols {
		q := pgx.Identifier{c}.Sanitize()
		quoted[i] = q
		selects[i] = "s." + q
		if kinds[i] == markets.Decimal {
			selects[i] += "::numeric"
		}
		if !t.IsKey(c) {
			sets = append(sets, q+" = excluded."+q)
			olds = append(olds, "t."+q)
			news = append(news, "excluded."+q)
		}
	}
	key := make([]string, len(t.Key))
	for i, k := range t.Key {
		key[i] = pgx.Identifier{k}.Sanitize()
	}
	conflict := "DO NOTHING"
	if len(sets) > 0 {
		conflict = fmt.Sprintf("DO UPDATE SET %s\nWHERE (%s) IS DISTINCT FROM (%s)",
			strings.Join(sets, ", "), strings.Join(olds, ", "), strings.Join(news, ", "))
	}
	return fmt.Sprintf("INSERT INTO dw.%s AS t (%s)\nSELECT %s\nFROM pg_temp.stage AS s\nON CONFLICT (%s) %s",
		pgx.Identifier{t.Name}.Sanitize(), strings.Join(quoted, ", "), strings.Join(selects, ", "),
		strings.Join(key, ", "), conflict)
}

// param is a value as a COPY parameter: a date pgx encodes from its year,
// month and day (no time zone involved), or text; NULL when not valid.
func param(k markets.Kind, v markets.Value) any {
	if k == markets.Day && v.Valid {
		d, err := markets.ParseDate(v.Text)
		if err == nil {
			return pgtype.Date{Time: d.Time(), Valid: true}
		}
	}
	return pgtype.Text{String: v.Text, Valid: v.Valid}
}

// Newest returns the newest date stored in dw.<job> for the series
// dataset/ticker; ok is false when it has none. The primary key's index
// answers it.
func (w *Warehouse) Newest(ctx context.Context, job markets.Job, dataset, ticker string) (markets.Date, bool, error) {
	t, ok := job.Table()
	if !ok {
		return markets.Date{}, false, fmt.Errorf("newest date of %s/%s: unknown job %q", dataset, ticker, job)
	}
	var d pgtype.Date
	q := "SELECT max(date) FROM dw." + pgx.Identifier{t.Name}.Sanitize() + " WHERE dataset = $1 AND ticker = $2"
	if err := w.pool.QueryRow(ctx, q, dataset, ticker).Scan(&d); err != nil {
		return markets.Date{}, false, fmt.Errorf("newest date of %s/%s in dw.%s: %w", dataset, ticker, t.Name, redact(err))
	}
	if !d.Valid {
		return markets.Date{}, false, nil
	}
	return markets.DateOf(d.Time), true, nil
}
