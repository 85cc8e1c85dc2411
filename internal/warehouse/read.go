package warehouse

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acmecheckout/reports/internal/markets"
)

// readConns bounds a reader's pool: a Lambda function serves one request at a
// time, and each read is one query.
const readConns = 2

// OpenReadOnly returns a Warehouse for the read API. It connects lazily, on
// the first query, so a cold start costs no round trip and an unreachable
// database fails requests rather than the start. Every session it opens is
// read-only (default_transaction_read_only), so nothing is written through it
// whatever its database user may do. Its errors never contain the URL.
func OpenReadOnly(databaseURL string) (*Warehouse, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// As Open: pgx's parse errors may quote the URL.
		return nil, errors.New("open warehouse: the database URL is malformed")
	}
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	cfg.MaxConns = readConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("open warehouse: %w", redact(err))
	}
	return &Warehouse{pool: pool}, nil
}

// Latest returns each series' newest rows in the job's table, ordered by the
// table's key: the row of its newest date (interest_rates: every key of that
// date). It walks the primary key, one index probe per series, never the
// whole table. The batch carries every column of the table; decimals are
// their exact text, dates YYYY-MM-DD.
func (w *Warehouse) Latest(ctx context.Context, job markets.Job) (markets.Batch, error) {
	t, ok := job.Table()
	if !ok {
		return markets.Batch{}, fmt.Errorf("latest: unknown job %q", job)
	}
	b, err := w.query(ctx, t, latestSQL(t))
	if err != nil {
		return markets.Batch{}, fmt.Errorf("latest %s: %w", job, err)
	}
	return b, nil
}

// History returns up to limit rows of the series whose ticker is ticker (in
// any dataset) dated start to end inclusive, ordered by the table's key,
// starting strictly after the row whose key values are after (nil: from the
// first). It is a keyset scan of the primary key per series: a page costs
// the same wherever it starts. The batch carries every column of the table.
func (w *Warehouse) History(ctx context.Context, job markets.Job, ticker string, start, end markets.Date, after []markets.Value, limit int) (markets.Batch, error) {
	t, ok := job.Table()
	if !ok {
		return markets.Batch{}, fmt.Errorf("history: unknown job %q", job)
	}
	if limit <= 0 {
		return markets.Batch{Dataset: markets.Dataset{Job: job}, Table: t, Columns: t.ColumnNames()}, nil
	}
	args := []any{ticker, start.String(), end.String(), limit}
	if after != nil {
		if len(after) != len(t.Key) {
			return markets.Batch{}, fmt.Errorf("history %s: %d key values after which to start, want %d (%s)", job, len(after), len(t.Key), strings.Join(t.Key, ", "))
		}
		for i, k := range t.Key {
			if !after[i].Valid {
				return markets.Batch{}, fmt.Errorf("history %s: key column %s after which to start is NULL", job, k)
			}
			args = append(args, after[i].Text)
		}
	}
	b, err := w.query(ctx, t, historySQL(t, after != nil), args...)
	if err != nil {
		return markets.Batch{}, fmt.Errorf("history %s %s: %w", job, ticker, err)
	}
	return b, nil
}

// latestSQL selects the rows of each series' newest date in t.
func latestSQL(t markets.Table) string {
	table := "dw." + pgx.Identifier{t.Name}.Sanitize()
	return seriesCTE(table) + `
		SELECT ` + selectList(t) + `
		FROM series s CROSS JOIN LATERAL (
			SELECT * FROM ` + table + ` r
			WHERE r.dataset = s.dataset AND r.ticker = s.ticker
			  AND r.date = (SELECT max(m.date) FROM ` + table + ` m WHERE m.dataset = s.dataset AND m.ticker = s.ticker)
			OFFSET 0 -- keeps the lateral a per-series index probe, never a join of the whole table
		) t
		ORDER BY ` + keyList(t, "t")
}

// historySQL selects a page of t's rows of ticker $1 dated $2 to $3, at
// most $4, after the key $5… when keyset is set.
func historySQL(t markets.Table, keyset bool) string {
	table := "dw." + pgx.Identifier{t.Name}.Sanitize()
	var after string
	if keyset {
		params := make([]string, len(t.Key))
		for i, k := range t.Key {
			params[i] = "$" + strconv.Itoa(5+i) + "::" + sqlType(t, k)
		}
		after = "AND (" + keyList(t, "r") + ") > (" + strings.Join(params, ", ") + ")"
	}
	return seriesCTE(table) + `
		SELECT ` + selectList(t) + `
		FROM series s CROSS JOIN LATERAL (
			SELECT * FROM ` + table + ` r
			WHERE r.dataset = s.dataset AND r.ticker = s.ticker
			  AND r.date BETWEEN $2::date AND $3::date ` + after + `
			ORDER BY ` + keyList(t, "r") + `
			LIMIT $4
		) t
		WHERE s.ticker = $1
		ORDER BY ` + keyList(t, "t") + `
		LIMIT $4`
}

// seriesCTE lists the distinct (dataset, ticker) of a table as "series" by a
// recursive walk of its primary key (a loose index scan): one index probe per
// series, however many rows each has.
func seriesCTE(table string) string {
	return `
		WITH RECURSIVE series AS (
			(SELECT dataset, ticker FROM ` + table + ` ORDER BY dataset, ticker LIMIT 1)
			UNION ALL
			SELECT n.dataset, n.ticker FROM series p CROSS JOIN LATERAL (
				SELECT x.dataset, x.ticker FROM ` + table + ` x
				WHERE (x.dataset, x.ticker) > (p.dataset, p.ticker)
				ORDER BY x.dataset, x.ticker LIMIT 1
			) n
		)`
}

// selectList selects every column of t from alias t as text: dates as
// YYYY-MM-DD (no time zone involved), numerics as their exact text.
func selectList(t markets.Table) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		q := "t." + pgx.Identifier{c.Name}.Sanitize()
		switch c.Kind {
		case markets.Day:
			cols[i] = "to_char(" + q + ", 'YYYY-MM-DD')"
		case markets.Decimal:
			cols[i] = q + "::text"
		default:
			cols[i] = q
		}
	}
	return strings.Join(cols, ", ")
}

// keyList lists t's key columns of alias a, in key order.
func keyList(t markets.Table, a string) string {
	cols := make([]string, len(t.Key))
	for i, k := range t.Key {
		cols[i] = a + "." + pgx.Identifier{k}.Sanitize()
	}
	return strings.Join(cols, ", ")
}

// sqlType is the PostgreSQL type of t's column called name.
func sqlType(t markets.Table, name string) string {
	switch t.Columns[t.Index(name)].Kind {
	case markets.Day:
		return "date"
	case markets.Decimal:
		return "numeric"
	}
	return "text"
}

// query runs a query selecting every column of t as text and returns its
// rows as a batch of t.
func (w *Warehouse) query(ctx context.Context, t markets.Table, sql string, args ...any) (markets.Batch, error) {
	rows, err := w.pool.Query(ctx, sql, args...)
	if err != nil {
		return markets.Batch{}, redact(err)
	}
	defer rows.Close()
	b := markets.Batch{Dataset: markets.Dataset{Job: markets.Job(t.Name)}, Table: t, Columns: t.ColumnNames()}
	cells := make([]pgtype.Text, len(t.Columns))
	dest := make([]any, len(cells))
	for i := range cells {
		dest[i] = &cells[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return markets.Batch{}, err
		}
		row := make([]markets.Value, len(cells))
		for i, c := range cells {
			row[i] = markets.Value{Text: c.String, Valid: c.Valid}
		}
		b.Rows = append(b.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return markets.Batch{}, redact(err)
	}
	return b, nil
}
