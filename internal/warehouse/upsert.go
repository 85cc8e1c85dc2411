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
// dw.markets, in one transaction, with one batched statement. It returns the
// number of table rows inserted or changed: rows whose values did not change
// are not rewritten, so loading the same window again returns 0.
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
	args, err := t.args(s)
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
		if len(s.Rows) == 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, t.upsertSQL(), args...)
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

// upsertSQL is the table's one batched statement: the rows arrive as arrays
// ($3 onwards, after dataset and ticker and the fixed columns), one per
// column, values as text cast to numeric so that no precision is lost. A row
// whose columns are all unchanged is not rewritten, and does not count.
//
//	INSERT INTO dw.economics AS t (dataset, ticker, date, value)
//	SELECT $1, $2, u.date, u.value::numeric
//	FROM unnest($3::date[], $4::text[]) AS u (date, value)
//	ON CONFLICT (dataset, ticker, date) DO UPDATE SET value = excluded.value
//	WHERE (t.value) IS DISTINCT FROM (excluded.value)
func (t table) upsertSQL() string {
	key := []string{"dataset", "ticker", "date"}
	columns := []string{"dataset", "ticker"}
	selects := []string{"$1::text", "$2::text"}
	var arrays, names, updated []string
	next := 3 // the next parameter number
	for _, c := range t.fixed {
		columns = append(columns, c)
		selects = append(selects, fmt.Sprintf("$%d::text", next))
		updated = append(updated, c)
		next++
	}
	unnest := func(col, typ, cast string) {
		columns = append(columns, col)
		selects = append(selects, "u."+col+cast)
		arrays = append(arrays, fmt.Sprintf("$%d::%s[]", next, typ))
		names = append(names, col)
		next++
	}
	unnest("date", "date", "")
	if t.long {
		key = append(key, "key")
		unnest("key", "text", "")
	}
	for _, c := range t.values {
		unnest(c, "text", "::numeric")
		updated = append(updated, c)
	}

	var sets, olds, news []string
	for _, c := range updated {
		sets = append(sets, c+" = excluded."+c)
		olds = append(olds, "t."+c)
		news = append(news, "excluded."+c)
	}
	return fmt.Sprintf("INSERT INTO %s AS t (%s)\nSELECT %s\nFROM unnest(%s) AS u (%s)\n"+
		"ON CONFLICT (%s) DO UPDATE SET %s\nWHERE (%s) IS DISTINCT FROM (%s)",
		t.name, strings.Join(columns, ", "),
		strings.Join(selects, ", "),
		strings.Join(arrays, ", "), strings.Join(names, ", "),
		strings.Join(key, ", "), strings.Join(sets, ", "),
		strings.Join(olds, ", "), strings.Join(news, ", "))
}

// args checks s and returns upsertSQL's arguments: dataset, ticker, the
// fixed columns, then the date array, the key array (long tables) and one
// text array per value column, NULL where a value is "" or the series lacks
// the column.
func (t table) args(s markets.Series) ([]any, error) {
	args := []any{s.Dataset.Database, s.Dataset.Ticker}
	if t.derive != nil {
		fixed, err := t.derive(s.Dataset)
		if err != nil {
			return nil, err
		}
		for _, f := range fixed {
			args = append(args, f)
		}
	}

	// at[i] is the table value column of series column i (wide tables).
	at := make([]int, len(s.Columns))
	seen := make(map[string]bool, len(s.Columns))
	for i, c := range s.Columns {
		if c == "" || seen[c] {
			return nil, fmt.Errorf("column %q: empty or repeated", c)
		}
		seen[c] = true
		if t.long {
			continue
		}
		at[i] = indexOf(t.values, c)
		if at[i] < 0 {
			return nil, fmt.Errorf("column %q is not a column of %s (it has %s)", c, t.name, strings.Join(t.values, ", "))
		}
	}

	n := len(s.Rows)
	if t.long {
		n *= len(s.Columns)
	}
	dates := make([]pgtype.Date, 0, n)
	var keys []string
	if t.long {
		keys = make([]string, 0, n)
	}
	values := make([][]pgtype.Text, len(t.values))
	for i := range values {
		values[i] = make([]pgtype.Text, 0, n)
	}

	days := make(map[markets.Date]bool, len(s.Rows))
	for _, r := range s.Rows {
		if err := checkDate(r.Date); err != nil {
			return nil, err
		}
		if days[r.Date] {
			return nil, fmt.Errorf("date %s appears twice", r.Date)
		}
		days[r.Date] = true
		if len(r.Values) != len(s.Columns) {
			return nil, fmt.Errorf("date %s: %d values for %d columns", r.Date, len(r.Values), len(s.Columns))
		}
		for i, v := range r.Values {
			if v != "" && !isDecimal(v) {
				return nil, fmt.Errorf("date %s column %s: %q is not a decimal number", r.Date, s.Columns[i], v)
			}
		}
		date := pgtype.Date{Time: r.Date.Time(), Valid: true}
		if t.long {
			for i, c := range s.Columns {
				dates = append(dates, date)
				keys = append(keys, c)
				values[0] = append(values[0], text(r.Values[i]))
			}
			continue
		}
		dates = append(dates, date)
		for col := range values {
			values[col] = append(values[col], pgtype.Text{})
		}
		for i, v := range r.Values {
			values[at[i]][len(dates)-1] = text(v)
		}
	}

	args = append(args, dates)
	if t.long {
		args = append(args, keys)
	}
	for _, v := range values {
		args = append(args, v)
	}
	return args, nil
}

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
