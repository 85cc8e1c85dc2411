// Package markets is the domain of the markets ETL (SPEC §5 and §6): the jobs
// and their tables, the catalog of series they load, the time series a source
// returns and how Layout maps one onto its job's table, independent of HTTP,
// PostgreSQL and S3.
package markets

import (
	"fmt"
	"strings"
	"time"
)

// Job names one of the five ETL jobs; it is also the warehouse table it loads
// (dw.<job>).
type Job string

// The five jobs of SPEC §5.
const (
	Currency      Job = "currency"
	Economics     Job = "economics"
	Equities      Job = "equities"
	InterestRates Job = "interest_rates"
	RealEstate    Job = "real_estate"
)

// Dataset is one time series a job loads, e.g. {Currency, "CURRFX", "EURUSD"},
// and how its columns land in the job's table. Database is the warehouse's
// "dataset" column and Ticker its "ticker"; Description is what dw.markets
// shows for it.
type Dataset struct {
	Job         Job
	Database    string
	Ticker      string
	Description string
	// Columns renames source columns (as ColumnName maps them) to table
	// columns, e.g. {"value": "rate"}; in interest_rates, to the key. A
	// source column not named here keeps its mapped name.
	Columns map[string]string
	// Constants gives text columns of the table a fixed value, e.g.
	// {"currency": "EUR"}; a column not given here is derived from the
	// ticker as SPEC §5 says (currency, the Zillow code's parts).
	Constants map[string]string
}

// String returns DATABASE/TICKER.
func (d Dataset) String() string { return d.Database + "/" + d.Ticker }

// Date is a calendar date with no time zone: it is never shifted.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// DateOf returns the calendar date of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// String returns YYYY-MM-DD.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// MarshalText returns YYYY-MM-DD, so that a Date is a JSON string.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses YYYY-MM-DD.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Time returns midnight UTC of d.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// AddDays returns d moved by n days.
func (d Date) AddDays(n int) Date { return DateOf(d.Time().AddDate(0, 0, n)) }

// Before reports whether d is earlier than o.
func (d Date) Before(o Date) bool { return d.Time().Before(o.Time()) }

// Series is one dataset's observations as the API returned them.
type Series struct {
	Dataset Dataset
	// Columns are the value columns' names, mapped by ColumnName, in the
	// API's order, without the date column.
	Columns []string
	Rows    []Row
}

// Row is one date's observation. Values line up with Series.Columns and hold
// each decimal number exactly as the API wrote it (full precision); "" means
// the value is missing (NULL).
type Row struct {
	Date   Date
	Values []string
}

// ColumnName maps an API column name to a warehouse column name: lower-case,
// drop '.', '(' and ')', and spaces and '-' become '_'
// ("High (est)" → "high_est", "Adj. Close" → "adj_close").
func ColumnName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch r {
		case '.', '(', ')':
		case ' ', '-':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CurrencyOf returns the currency of a currency ticker: its first 3 letters
// (EURUSD → EUR).
func CurrencyOf(ticker string) string {
	if len(ticker) < 3 {
		return ticker
	}
	return ticker[:3]
}

// ZillowCode is a Zillow dataset code split into its parts:
// Z94108_ZHVIAH → {AreaCategory: "Z", Area: "94108", IndicatorCode: "ZHVIAH"}.
type ZillowCode struct {
	AreaCategory  string
	Area          string
	IndicatorCode string
}

// ParseZillowCode splits a Zillow dataset code of the form
// <category letter><area>_<indicator>.
func ParseZillowCode(code string) (ZillowCode, error) {
	area, indicator, ok := strings.Cut(code, "_")
	if !ok || len(area) < 2 || indicator == "" {
		return ZillowCode{}, fmt.Errorf("zillow code %q: want <category><area>_<indicator>, e.g. Z94108_ZHVIAH", code)
	}
	return ZillowCode{AreaCategory: area[:1], Area: area[1:], IndicatorCode: indicator}, nil
}
