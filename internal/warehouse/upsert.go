package warehouse

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/acmecheckout/reports/internal/markets"
)

// Upsert writes one series into its job's table and its dataset into
// dw.markets, in one transaction: the rows are copied (COPY) into a temporary
// table and merged with one INSERT … ON CONFLICT. It returns the number of
// table rows inserted or changed: rows whose values did not change are not
// rewritten, so loading the same window again returns 0.
//
// Every value must be a decimal number or "" (NULL). A series column the table
// does not have, a row whose value count differs from the columns, a
// duplicate date or a malformed value is an error, and nothing is written.
// Table columns the series lacks are NULL.
func (w *Warehouse) Upsert(ctx context.Context, s markets.Series) (int, error) {
	n, err := w.upsert(ctx, s)
	if err != nil {
		return 0, fmt.Errorf("upsert %s: %w", s.Dataset, err)
	}
	return n, nil
}

func (w *Warehouse) upsert(ctx context.Context, s markets.Series) (int, error) {
	ds := s.Dataset
	if ds.Database == "" || ds.Ticker == "" {
		return 0, fmt.Errorf("dataset needs a database and a ticker")
	}
	t, err := tableOf(ds.Job)
	if err != nil {
		return 0, err
	}
	b, err := t.batch(s)
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
		if b.rows == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, t.stageSQL()); err != nil {
			return fmt.Errorf("create staging table: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stage"}, t.staged(), pgx.CopyFromSlice(b.rows, b.row)); err != nil {
			return fmt.Errorf("copy into staging table: %w", err)
		}
		tag, err := tx.Exec(ctx, t.mergeSQL(), b.args...)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		n = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, redact(err)
	}
	return int(n), nil
}

// table describes how a job's series map onto its dw table.
type table struct {
	name string
	// fixed are text columns derived from the dataset (currency, area, ...),
	// computed by derive.
	fixed  []string
	derive func(markets.Dataset) ([]string, error)
	// values are the numeric columns. In a wide table each is a series
	// column; in a long table (interest_rates) the series columns become
	// rows, named by the key column "key", with the value in values[0].
	values []string
	long   bool
}

// tableOf returns the table job loads (SPEC §5).
func tableOf(job markets.Job) (table, error) {
	switch job {
	case markets.Currency:
		return table{
			name:  "dw.currency",
			fixed: []string{"currency"},
			derive: func(ds markets.Dataset) ([]string, error) {
				return []string{markets.CurrencyOf(ds.Ticker)}, nil
			},
			values: []string{"rate", "high_est", "low_est"},
		}, nil
	case markets.Economics:
		return table{name: "dw.economics", values: []string{"value"}}, nil
	case markets.Equities:
		return table{name: "dw.equities", values: []string{
			"open", "high", "low", "close", "volume", "ex_dividend", "split_ratio",
			"adj_open", "adj_high", "adj_low", "adj_close", "adj_volume",
		}}, nil
	case markets.InterestRates:
		return table{name: "dw.interest_rates", values: []string{"value"}, long: true}, nil
	case markets.RealEstate:
		return table{
			name:  "dw.real_estate",
			fixed: []string{"area_category", "indicator_code", "area"},
			derive: func(ds markets.Dataset) ([]string, error) {
				z, err := markets.ParseZillowCode(ds.Ticker)
				if err != nil {
					return nil, err
				}
				return []string{z.AreaCategory, z.IndicatorCode, z.Area}, nil
			},
			values: []string{"value"},
		}, nil
	default:
		return table{}, fmt.Errorf("unknown job %q", job)
	}
}

// staged returns the staging table's columns: date, key (long tables), then
// the value columns, as text.
func (t table) staged() []string {
	cols := []string{"date"}
	if t.long {
		cols = append(cols, "key")
	}
	return append(cols, t.values...)
}

// stageSQL creates the transaction's staging table, dropped at commit.
func (t table) stageSQL() string {
	defs := []string{"date date NOT NULL"}
	for _, c := range t.staged()[1:] {
		defs = append(defs, c+" text")
	}
	return "CREATE TEMPORARY TABLE stage (" + strings.Join(defs, ", ") + ") ON COMMIT DROP"
}

// mergeSQL moves the staging table into the job's table: dataset and ticker
// are $1 and $2, the fixed columns $3 onwards; values are cast from text to
// numeric, so no precision is lost. A row whose columns are all unchanged is
// not rewritten and does not count.
//
//	INSERT INTO dw.economics AS t (dataset, ticker, date, value)
//	SELECT $1::text, $2::text, s.date, s.value::numeric
//	FROM pg_temp.stage AS s
//	ON CONFLICT (dataset, ticker, date) DO UPDATE SET value = excluded.value
//	WHERE (t.value) IS DISTINCT FROM (excluded.value)
func (t table) mergeSQL() string {
	key := []string{"dataset", "ticker", "date"}
	columns := []string{"dataset", "ticker"}
	selects := []string{"$1::text", "$2::text"}
	var updated []string
	for i, c := range t.fixed {
		columns = append(columns, c)
		selects = append(selects, fmt.Sprintf("$%d::text", i+3))
		updated = append(updated, c)
	}
	columns = append(columns, "date")
	selects = append(selects, "s.date")
	if t.long {
		key = append(key, "key")
		columns = append(columns, "key")
		selects = append(selects, "s.key")
	}
	for _, c := range t.values {
		columns = append(columns, c)
		selects = append(selects, "s."+c+"::numeric")
		updated = append(updated, c)
	}

	var sets, olds, news []string
	for _, c := range updated {
		sets = append(sets, c+" = excluded."+c)
		olds = append(olds, "t."+c)
		news = append(news, "excluded."+c)
	}
	return fmt.Sprintf("INSERT INTO %s AS t (%s)\nSELECT %s\nFROM pg_temp.stage AS s\n"+
		"ON CONFLICT (%s) DO UPDATE SET %s\nWHERE (%s) IS DISTINCT FROM (%s)",
		t.name, strings.Join(columns, ", "), strings.Join(selects, ", "),
		strings.Join(key, ", "), strings.Join(sets, ", "),
		strings.Join(olds, ", "), strings.Join(news, ", "))
}

// batch is a checked series, ready to copy into the staging table.
type batch struct {
	args []any // mergeSQL's parameters
	rows int   // staging rows
	// row returns staging row i, in the order of staged(); it reuses one
	// slice, which CopyFrom encodes before asking for the next row.
	row func(i int) ([]any, error)
}

// batch checks s and lays it out for the staging table: one row per date in
// a wide table (NULL where a value is "" or the series lacks the column), one
// row per date and column in a long one.
func (t table) batch(s markets.Series) (batch, error) {
	b := batch{args: []any{s.Dataset.Database, s.Dataset.Ticker}}
	if t.derive != nil {
		fixed, err := t.derive(s.Dataset)
		if err != nil {
			return batch{}, err
		}
		for _, f := range fixed {
			b.args = append(b.args, f)
		}
	}

	// at[i] is the staging column of series column i (wide tables).
	at := make([]int, len(s.Columns))
	seen := make(map[string]bool, len(s.Columns))
	for i, c := range s.Columns {
		if c == "" || seen[c] {
			return batch{}, fmt.Errorf("column %q: empty or repeated", c)
		}
		seen[c] = true
		if t.long {
			continue
		}
		at[i] = indexOf(t.values, c)
		if at[i] < 0 {
			return batch{}, fmt.Errorf("column %q is not a column of %s (it has %s)", c, t.name, strings.Join(t.values, ", "))
		}
		at[i]++ // after date
	}

	days := make(map[markets.Date]bool, len(s.Rows))
	for _, r := range s.Rows {
		if err := checkDate(r.Date); err != nil {
			return batch{}, err
		}
		if days[r.Date] {
			return batch{}, fmt.Errorf("date %s appears twice", r.Date)
		}
		days[r.Date] = true
		if len(r.Values) != len(s.Columns) {
			return batch{}, fmt.Errorf("date %s: %d values for %d columns", r.Date, len(r.Values), len(s.Columns))
		}
		for i, v := range r.Values {
			if v != "" && !isDecimal(v) {
				return batch{}, fmt.Errorf("date %s column %s: %q is not a decimal number", r.Date, s.Columns[i], v)
			}
		}
	}

	row := make([]any, len(t.staged()))
	if t.long {
		cols := len(s.Columns)
		b.rows = len(s.Rows) * cols
		b.row = func(i int) ([]any, error) {
			r, c := s.Rows[i/cols], i%cols
			row[0], row[1], row[2] = date(r.Date), s.Columns[c], text(r.Values[c])
			return row, nil
		}
		return b, nil
	}
	b.rows = len(s.Rows)
	b.row = func(i int) ([]any, error) {
		r := s.Rows[i]
		clear(row)
		row[0] = date(r.Date)
		for c, v := range r.Values {
			row[at[c]] = text(v)
		}
		return row, nil
	}
	return b, nil
}

// date is d as a date parameter: pgx encodes its year, month and day, with no
// time zone involved.
func date(d markets.Date) pgtype.Date { return pgtype.Date{Time: d.Time(), Valid: true} }

// text is v as a text parameter, NULL when empty.
func text(v string) pgtype.Text { return pgtype.Text{String: v, Valid: v != ""} }

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// checkDate rejects dates that are not real calendar days (month 13, Feb 30,
// the zero Date) or that PostgreSQL's date cannot hold.
func checkDate(d markets.Date) error {
	if d.Year < 1 || d.Year > 9999 || markets.DateOf(d.Time()) != d {
		return fmt.Errorf("date %s is not a valid calendar date", d)
	}
	return nil
}

// isDecimal reports whether s is a plain decimal number as JSON writes one:
// optional sign, digits with an optional fraction, optional exponent
// ("-1.25", "0.000025", "2.5e-05"). NaN, infinities, spaces and separators
// are not.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && isDigit(s[i]); i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && isDigit(s[i]); i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }
