package lake

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/acmecheckout/reports/internal/markets"
)

// The layout of a lake under its prefix (SPEC §7).
const (
	// PartitionColumn is the one partition column of the job tables: the
	// year of the rows' date, in the object's key, not in the file.
	PartitionColumn = "year"
	// MarketsKey is the object listing every series (the markets table).
	MarketsKey = "markets/data.parquet"
	// extension ends every object name.
	extension = ".parquet"
)

// SeriesKey returns the key, relative to the lake's prefix, of the object
// holding one series' rows of one year:
// {job}/year={YYYY}/{dataset}.{ticker}.parquet, dataset and ticker
// percent-encoded (EscapeName).
func SeriesKey(job markets.Job, year int, dataset, ticker string) string {
	return fmt.Sprintf("%s/%s=%04d/%s.%s%s", job, PartitionColumn, year, EscapeName(dataset), EscapeName(ticker), extension)
}

// EscapeName percent-encodes every byte of s except A-Z a-z 0-9 - and _,
// as %XX with upper-case hex digits ("BRK.B" → "BRK%2EB").
func EscapeName(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && isUnreserved(rune(c)) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// unescapeName reverses EscapeName, accepting only its exact output.
func unescapeName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("%q: truncated %% escape", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("%q: bad %% escape", s)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	out := b.String()
	if EscapeName(out) != s {
		return "", fmt.Errorf("%q is not percent-encoded as the layout requires (want %q)", s, EscapeName(out))
	}
	return out, nil
}

// isUnreserved reports whether r is kept as is in a name: A-Z a-z 0-9 - _.
func isUnreserved(r rune) bool {
	return 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_'
}

// object names one object of the layout: the markets object (Year 0, no
// series), or one series' year of a job's table.
type object struct {
	Table   markets.Table
	Year    int
	Dataset string
	Ticker  string
}

// parseKey reads a key relative to the prefix; it fails, saying why, for a
// key that does not follow the layout.
func parseKey(rel string) (object, error) {
	if rel == MarketsKey {
		return object{Table: markets.MarketsTable}, nil
	}
	parts := strings.Split(rel, "/")
	if len(parts) != 3 {
		return object{}, fmt.Errorf("not {job}/%s={YYYY}/{dataset}.{ticker}%s nor %s", PartitionColumn, extension, MarketsKey)
	}
	job, err := markets.ParseJob(parts[0])
	if err != nil {
		return object{}, err
	}
	t, _ := job.Table()
	y, ok := strings.CutPrefix(parts[1], PartitionColumn+"=")
	year, err := strconv.Atoi(y)
	if !ok || err != nil || len(y) != 4 || year < 1 {
		return object{}, fmt.Errorf("partition %q is not %s=YYYY", parts[1], PartitionColumn)
	}
	name, ok := strings.CutSuffix(parts[2], extension)
	ds, tk, ok2 := strings.Cut(name, ".")
	if !ok || !ok2 || ds == "" || tk == "" {
		return object{}, fmt.Errorf("name %q is not {dataset}.{ticker}%s", parts[2], extension)
	}
	o := object{Table: t, Year: year}
	if o.Dataset, err = unescapeName(ds); err != nil {
		return object{}, fmt.Errorf("dataset %w", err)
	}
	if o.Ticker, err = unescapeName(tk); err != nil {
		return object{}, fmt.Errorf("ticker %w", err)
	}
	return o, nil
}

// key returns the object's key relative to the prefix.
func (o object) key() string {
	if o.Table.Name == markets.MarketsTable.Name {
		return MarketsKey
	}
	return SeriesKey(markets.Job(o.Table.Name), o.Year, o.Dataset, o.Ticker)
}

// abs returns the full key of a key relative to the prefix.
func (l *Lake) abs(rel string) string { return l.prefix + "/" + rel }

// tablePrefix returns the full key prefix of a table's objects.
func (l *Lake) tablePrefix(name string) string { return l.prefix + "/" + name + "/" }
