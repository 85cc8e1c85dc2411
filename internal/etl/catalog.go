package etl

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/acmecheckout/reports/internal/markets"
)

// Formats WriteCatalog writes.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatCSV   = "csv"
)

// CatalogRow is one series of a catalog as `etl catalog check` shows it,
// with the window a run of windows would load it over: from Start (a first
// load's when Incremental: a series already stored starts at its newest
// date minus markets.RevisionDays) to End.
type CatalogRow struct {
	Job            markets.Job       `json:"job"`
	Source         markets.Source    `json:"source"`
	Code           string            `json:"code"`
	Dataset        string            `json:"dataset"`
	Ticker         string            `json:"ticker"`
	Description    string            `json:"description"`
	Filters        map[string]string `json:"filters,omitempty"`
	Columns        map[string]string `json:"columns,omitempty"`
	Constants      map[string]string `json:"constants,omitempty"`
	StaleAfterDays int               `json:"staleAfterDays"`
	Start          markets.Date      `json:"start"`
	End            markets.Date      `json:"end"`
	Incremental    bool              `json:"incremental"`
}

// CatalogRows returns the series of c that windows load, job by job in the
// windows' order, each with its window.
func CatalogRows(c markets.Catalog, windows []Window) []CatalogRow {
	var out []CatalogRow
	for _, w := range windows {
		for _, e := range c.Job(w.Job) {
			out = append(out, CatalogRow{
				Job: e.Job, Source: e.Source, Code: e.Code, Dataset: e.Database, Ticker: e.Ticker, Description: e.Description,
				Filters: e.Filters, Columns: e.Columns, Constants: e.Constants, StaleAfterDays: e.StaleAfterDays,
				Start: w.SeriesStart(markets.Date{}, false), End: w.End, Incremental: w.Incremental(),
			})
		}
	}
	return out
}

// WriteCatalog writes rows to w as an aligned table (with a note on
// incremental windows), a JSON array or CSV with a header line.
func WriteCatalog(w io.Writer, format string, rows []CatalogRow) error {
	header := []string{"JOB", "SOURCE", "CODE", "DATASET", "TICKER", "FILTERS", "COLUMNS", "CONSTANTS", "STALE AFTER", "WINDOW"}
	cells := func(r CatalogRow) []string {
		window := r.Start.String() + ".." + r.End.String()
		if r.Incremental {
			window += " *"
		}
		return []string{string(r.Job), string(r.Source), r.Code, r.Dataset, r.Ticker, pairs(r.Filters), pairs(r.Columns),
			pairs(r.Constants), strconv.Itoa(r.StaleAfterDays) + "d", window}
	}
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if rows == nil {
			rows = []CatalogRow{}
		}
		return enc.Encode(rows)
	case FormatCSV:
		cw := csv.NewWriter(w)
		header[len(header)-1] = "START"
		_ = cw.Write(append(header, "END", "INCREMENTAL", "DESCRIPTION"))
		for _, r := range rows {
			c := cells(r)
			c[len(c)-1] = r.Start.String()
			_ = cw.Write(append(c, r.End.String(), strconv.FormatBool(r.Incremental), r.Description))
		}
		cw.Flush()
		return cw.Error()
	case FormatTable, "":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		incremental := false
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(cells(r), "\t"))
			incremental = incremental || r.Incremental
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if incremental {
			_, err := fmt.Fprintf(w, "* a first load's window; a series already stored loads from its newest date minus %d days\n", markets.RevisionDays)
			return err
		}
		return nil
	}
	return fmt.Errorf("format %q: want %s, %s or %s", format, FormatTable, FormatJSON, FormatCSV)
}

// pairs writes m as k=v,k=v in key order, or - when empty.
func pairs(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return strings.Join(out, ",")
}
