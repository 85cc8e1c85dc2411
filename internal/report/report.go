// Package report formats report counts for people and tools: the reporting
// UI's JSON lines ({"datapoint": ..., "events": ...}), CSV, and an aligned
// table that can be cut to its top rows.
package report

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/acmecheckout/reports/internal/purchase"
)

// Format is an output format.
type Format string

// The output formats.
const (
	// JSON writes one {"datapoint": ..., "events": ...} object per line, as
	// the reporting UI shows a count.
	JSON Format = "json"
	// CSV writes a datapoint,events header and one record per count.
	CSV Format = "csv"
	// Table writes aligned columns for a terminal.
	Table Format = "table"
)

// ParseFormat returns the Format named s: json, csv or table.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case JSON, CSV, Table:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q: want json, csv or table", s)
}

// Write writes counts to w in format f; tables are written in full.
func Write(w io.Writer, f Format, counts []purchase.Total) error {
	switch f {
	case JSON:
		return WriteJSONLines(w, counts)
	case CSV:
		return WriteCSV(w, counts)
	case Table:
		return WriteTable(w, counts, 0)
	}
	return fmt.Errorf("unknown format %q: want json, csv or table", f)
}

// WriteJSONLines writes one JSON object per count and line.
func WriteJSONLines(w io.Writer, counts []purchase.Total) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, c := range counts {
		if err := enc.Encode(c); err != nil {
			return fmt.Errorf("write json line: %w", err)
		}
	}
	return nil
}

// WriteCSV writes a datapoint,events header and one record per count.
func WriteCSV(w io.Writer, counts []purchase.Total) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"datapoint", "events"}); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	for _, c := range counts {
		if err := cw.Write([]string{c.Datapoint, strconv.FormatInt(c.Events, 10)}); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// WriteTable writes counts as aligned DATAPOINT and EVENTS columns, events
// right-aligned. With limit > 0 it writes at most limit rows followed by a
// "… N more" line.
func WriteTable(w io.Writer, counts []purchase.Total, limit int) error {
	shown := counts
	if limit > 0 && len(counts) > limit {
		shown = counts[:limit]
	}
	const head1, head2 = "DATAPOINT", "EVENTS"
	dw, ew := len(head1), len(head2)
	for _, c := range shown {
		dw = max(dw, utf8.RuneCountInString(c.Datapoint))
		ew = max(ew, len(strconv.FormatInt(c.Events, 10)))
	}
	var b strings.Builder
	row := func(dp, events string) {
		b.WriteString(dp)
		b.WriteString(strings.Repeat(" ", dw-utf8.RuneCountInString(dp)+2+ew-len(events)))
		b.WriteString(events)
		b.WriteByte('\n')
	}
	row(head1, head2)
	for _, c := range shown {
		row(c.Datapoint, strconv.FormatInt(c.Events, 10))
	}
	if n := len(counts) - len(shown); n > 0 {
		fmt.Fprintf(&b, "… %d more\n", n)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// ByEvents returns a copy of counts sorted by events, largest first, ties by
// datapoint: the top rows of a report.
func ByEvents(counts []purchase.Total) []purchase.Total {
	s := slices.Clone(counts)
	slices.SortStableFunc(s, func(a, b purchase.Total) int {
		return cmp.Or(cmp.Compare(b.Events, a.Events), cmp.Compare(a.Datapoint, b.Datapoint))
	})
	return s
}

// Total returns the sum of the counts' events.
func Total(counts []purchase.Total) int64 {
	var n int64
	for _, c := range counts {
		n += c.Events
	}
	return n
}
