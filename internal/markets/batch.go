package markets

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Value is one cell of a table row: its text (a date as YYYY-MM-DD, a decimal
// number exactly as the source wrote it) or, when Valid is false, NULL.
type Value struct {
	Text  string
	Valid bool
}

// TextValue returns the non-NULL Value s.
func TextValue(s string) Value { return Value{Text: s, Valid: true} }

// String returns the value's text, or NULL.
func (v Value) String() string {
	if !v.Valid {
		return "NULL"
	}
	return v.Text
}

// Batch is one series laid out as rows of its job's table, checked and ready
// for any sink (the PostgreSQL warehouse, the lake).
type Batch struct {
	// Dataset is the series the rows belong to (dw.markets' row).
	Dataset Dataset
	// Table is the job's table.
	Table Table
	// Columns are the table columns the rows set, in table order: the key,
	// the columns derived from the dataset and the value columns the source
	// answered. A table column not named here keeps its stored value (NULL
	// in a new row): a column missing from one answer never erases data.
	Columns []string
	// Rows hold one value per column of Columns; their keys are distinct.
	Rows [][]Value
}

// ErrInvalidSeries is matched (errors.Is) by every error Layout returns.
var ErrInvalidSeries = errors.New("invalid series")

// Layout checks s and lays it out as rows of its job's table (SPEC §5, §6):
// one row per date in a wide table, one row per date and source column in a
// long one (interest_rates, whose key column names the source column). It is
// the one place that maps a series onto a table: the dataset's Columns
// rename source columns (in interest_rates, the keys), its Constants set
// text columns, and the text columns they leave are derived from the ticker
// (currency: the ticker's first three letters; real estate: the parts of
// the Zillow code).
//
// It rejects, matching ErrInvalidSeries: an unknown job, a dataset without a
// database or ticker, a mapping the table cannot take (a rename onto a
// column that is not a value column, a constant for a column that is not a
// text column, a real estate ticker that is no Zillow code without the
// constants it would give), a source column that is empty, repeated (after
// renaming) or (in a wide table) not a value column of the table, a row
// whose value count differs from the columns, a date that is not a calendar
// day or appears twice, and a value that is not a plain decimal number.
func Layout(s Series) (Batch, error) {
	b, err := layout(s)
	if err != nil {
		return Batch{}, fmt.Errorf("%w: %s: %w", ErrInvalidSeries, s.Dataset, err)
	}
	return b, nil
}

func layout(s Series) (Batch, error) {
	ds := s.Dataset
	t, ok := ds.Job.Table()
	if !ok {
		return Batch{}, fmt.Errorf("unknown job %q", ds.Job)
	}
	if ds.Database == "" || ds.Ticker == "" {
		return Batch{}, errors.New("dataset needs a database and a ticker")
	}
	if problems := checkMapping(ds, t); len(problems) > 0 {
		return Batch{}, errors.New(strings.Join(problems, "; "))
	}
	derived, err := deriveText(ds)
	if err != nil {
		return Batch{}, err
	}
	columns := make([]string, len(s.Columns)) // the series' columns, renamed
	for i, c := range s.Columns {
		columns[i] = c
		if to, ok := ds.Columns[c]; ok {
			columns[i] = to
		}
	}
	if err := checkColumns(t, s.Columns, columns); err != nil {
		return Batch{}, err
	}
	if err := checkRows(s); err != nil {
		return Batch{}, err
	}

	// Which table columns the rows set, and where each comes from.
	present := map[string]bool{ColDataset: true, ColTicker: true, ColDate: true}
	for name := range derived {
		present[name] = true
	}
	if t.Long {
		present[ColKey], present[ColValue] = true, true
	} else {
		for _, c := range columns {
			present[c] = true
		}
	}
	b := Batch{Dataset: ds, Table: t}
	for _, c := range t.Columns {
		if present[c.Name] {
			b.Columns = append(b.Columns, c.Name)
		}
	}
	source := make(map[string]int, len(columns)) // table column -> index in the series
	for i, c := range columns {
		source[c] = i
	}

	row := func(r Row, key string, value Value) []Value {
		out := make([]Value, len(b.Columns))
		for i, c := range b.Columns {
			switch {
			case c == ColDataset:
				out[i] = TextValue(ds.Database)
			case c == ColTicker:
				out[i] = TextValue(ds.Ticker)
			case c == ColDate:
				out[i] = TextValue(r.Date.String())
			case derived[c] != "":
				out[i] = TextValue(derived[c])
			case t.Long && c == ColKey:
				out[i] = TextValue(key)
			case t.Long && c == ColValue:
				out[i] = value
			default:
				out[i] = cell(r.Values[source[c]])
			}
		}
		return out
	}
	if t.Long {
		b.Rows = make([][]Value, 0, len(s.Rows)*len(s.Columns))
		for _, r := range s.Rows {
			for i, c := range columns {
				b.Rows = append(b.Rows, row(r, c, cell(r.Values[i])))
			}
		}
		return b, nil
	}
	b.Rows = make([][]Value, 0, len(s.Rows))
	for _, r := range s.Rows {
		b.Rows = append(b.Rows, row(r, "", Value{}))
	}
	return b, nil
}

// cell is a source value as a table value: "" is NULL.
func cell(v string) Value { return Value{Text: v, Valid: v != ""} }

// deriveText returns the text columns the dataset sets, by name: its
// constants, then what SPEC §5 derives from the ticker for the columns they
// leave (currency: the first three letters; real estate: the Zillow code's
// parts, which needs a Zillow code only when a constant is missing).
func deriveText(ds Dataset) (map[string]string, error) {
	out := maps.Clone(ds.Constants)
	if out == nil {
		out = map[string]string{}
	}
	switch ds.Job {
	case Currency:
		if out["currency"] == "" {
			out["currency"] = CurrencyOf(ds.Ticker)
		}
	case RealEstate:
		parts := []string{"area_category", "indicator_code", "area"}
		if slices.IndexFunc(parts, func(c string) bool { return out[c] == "" }) < 0 {
			return out, nil
		}
		z, err := ParseZillowCode(ds.Ticker)
		if err != nil {
			return nil, fmt.Errorf("%w; or give area_category, indicator_code and area as constants", err)
		}
		for c, v := range map[string]string{"area_category": z.AreaCategory, "indicator_code": z.IndicatorCode, "area": z.Area} {
			if out[c] == "" {
				out[c] = v
			}
		}
	}
	return out, nil
}

// checkColumns rejects source columns that are empty, and renamed columns
// that repeat or that a wide table has no value column for. source are the
// series' columns, renamed the table columns they map to.
func checkColumns(t Table, source, renamed []string) error {
	seen := make(map[string]string, len(renamed))
	for i, c := range renamed {
		if source[i] == "" || c == "" {
			return fmt.Errorf("column %q: empty or repeated", source[i])
		}
		if first, dup := seen[c]; dup {
			if first == source[i] {
				return fmt.Errorf("column %q: empty or repeated", c)
			}
			return fmt.Errorf("columns %q and %q both map to %q", first, source[i], c)
		}
		seen[c] = source[i]
		if t.Long {
			continue
		}
		if !t.isValue(c) {
			what := fmt.Sprintf("column %q", c)
			if c != source[i] {
				what = fmt.Sprintf("column %q (mapped to %q)", source[i], c)
			}
			return fmt.Errorf("%s is not a value column of %s (it has %s)", what, t.Name, t.describe(t.isValueColumn))
		}
	}
	return nil
}

// checkRows rejects rows whose width differs from the columns, dates that are
// not calendar days or repeat, and values that are not decimal numbers.
func checkRows(s Series) error {
	days := make(map[Date]bool, len(s.Rows))
	for _, r := range s.Rows {
		if err := r.Date.Check(); err != nil {
			return err
		}
		if days[r.Date] {
			return fmt.Errorf("date %s appears twice", r.Date)
		}
		days[r.Date] = true
		if len(r.Values) != len(s.Columns) {
			return fmt.Errorf("date %s: %d values for %d columns", r.Date, len(r.Values), len(s.Columns))
		}
		for i, v := range r.Values {
			if v != "" && !IsDecimal(v) {
				return fmt.Errorf("date %s column %s: %q is not a decimal number", r.Date, s.Columns[i], v)
			}
		}
	}
	return nil
}

// Check rejects a date that is not a real calendar day (month 13, Feb 30, the
// zero Date) or is outside years 1 to 9999.
func (d Date) Check() error {
	if d.Year < 1 || d.Year > 9999 || DateOf(d.Time()) != d {
		return fmt.Errorf("date %s is not a valid calendar date", d)
	}
	return nil
}

// IsDecimal reports whether s is a plain decimal number as JSON writes one:
// optional sign, digits with an optional fraction, optional exponent
// ("-1.25", "0.000025", "2.5e-05"). NaN, infinities, spaces and separators
// are not.
func IsDecimal(s string) bool {
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

// Key returns the values of row's key columns joined by a separator no value
// holds, for finding rows with the same key.
func (b Batch) Key(row []Value) string {
	var parts []string
	for i, c := range b.Columns {
		if b.Table.IsKey(c) {
			parts = append(parts, row[i].Text)
		}
	}
	return strings.Join(parts, "\x00")
}

// Column returns the index in Columns of the column called name, or -1.
func (b Batch) Column(name string) int { return slices.Index(b.Columns, name) }
