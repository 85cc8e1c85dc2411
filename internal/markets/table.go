package markets

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is the type of a table column: text, a calendar date or an exact
// decimal number. Each sink maps it onto its own types (PostgreSQL text,
// date, numeric; Parquet STRING, DATE, DECIMAL(38,18)).
type Kind uint8

// The column kinds.
const (
	Text Kind = iota
	Day
	Decimal
)

// String returns text, date or decimal.
func (k Kind) String() string {
	switch k {
	case Text:
		return "text"
	case Day:
		return "date"
	case Decimal:
		return "decimal"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Column is one column of a table.
type Column struct {
	Name string
	Kind Kind
}

// Table is the shape of one table of the warehouse (SPEC §5): dw.<Name> in
// PostgreSQL, <prefix>/<Name>/ in the lake. It is the one definition of each
// table's columns, their order and key.
type Table struct {
	// Name is the table's name: the job's name, or "markets".
	Name string
	// Columns are every column, in the order of SPEC §5.
	Columns []Column
	// Key names the primary key's columns, in order.
	Key []string
	// Long is set for a table holding one row per source column (and date):
	// the column's name is in the "key" column and its value in "value".
	Long bool
}

// Column names every table shares.
const (
	ColDataset     = "dataset"
	ColTicker      = "ticker"
	ColDate        = "date"
	ColDescription = "description"
	ColKey         = "key"
	ColValue       = "value"
)

// MarketsTable is dw.markets: the series every job loads.
var MarketsTable = Table{
	Name:    "markets",
	Columns: []Column{{ColDataset, Text}, {ColTicker, Text}, {ColDescription, Text}},
	Key:     []string{ColDataset, ColTicker},
}

// seriesTable returns the table of a job whose rows are keyed by dataset,
// ticker and date (plus extra key columns), with the given text and decimal
// columns after the key, in order.
func seriesTable(job Job, cols ...Column) Table {
	t := Table{Name: string(job), Key: []string{ColDataset, ColTicker, ColDate}}
	t.Columns = append([]Column{{ColDataset, Text}, {ColTicker, Text}}, cols...)
	return t
}

// Table returns the job's table (SPEC §5); ok is false for an unknown job.
func (j Job) Table() (t Table, ok bool) {
	switch j {
	case Currency:
		return seriesTable(j, Column{"currency", Text}, Column{ColDate, Day},
			Column{"rate", Decimal}, Column{"high_est", Decimal}, Column{"low_est", Decimal}), true
	case Economics:
		return seriesTable(j, Column{ColDate, Day}, Column{ColValue, Decimal}), true
	case Equities:
		cols := []Column{{ColDate, Day}}
		for _, c := range []string{"open", "high", "low", "close", "volume", "ex_dividend", "split_ratio",
			"adj_open", "adj_high", "adj_low", "adj_close", "adj_volume"} {
			cols = append(cols, Column{c, Decimal})
		}
		return seriesTable(j, cols...), true
	case InterestRates:
		t := seriesTable(j, Column{ColDate, Day}, Column{ColKey, Text}, Column{ColValue, Decimal})
		t.Key = append(t.Key, ColKey)
		t.Long = true
		return t, true
	case RealEstate:
		return seriesTable(j, Column{ColDate, Day}, Column{ColValue, Decimal},
			Column{"area_category", Text}, Column{"indicator_code", Text}, Column{"area", Text}), true
	}
	return Table{}, false
}

// Tables returns the five jobs' tables, in the order of Jobs, then MarketsTable.
func Tables() []Table {
	var out []Table
	for _, j := range Jobs() {
		t, _ := j.Table()
		out = append(out, t)
	}
	return append(out, MarketsTable)
}

// Index returns the position of the column called name, or -1.
func (t Table) Index(name string) int {
	return slices.IndexFunc(t.Columns, func(c Column) bool { return c.Name == name })
}

// IsKey reports whether the column called name is part of the key.
func (t Table) IsKey(name string) bool { return slices.Contains(t.Key, name) }

// names returns the names of cols.
func names(cols []Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// ColumnNames returns the names of the table's columns, in order.
func (t Table) ColumnNames() []string { return names(t.Columns) }

// String returns the table's name.
func (t Table) String() string { return t.Name }

// describe lists the names of the columns keep accepts, for errors.
func (t Table) describe(keep func(Column) bool) string {
	var out []string
	for _, c := range t.Columns {
		if keep(c) {
			out = append(out, c.Name)
		}
	}
	return strings.Join(out, ", ")
}
