package lake

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"golang.org/x/sync/errgroup"

	"github.com/acmecheckout/reports/internal/markets"
)

// Report is what Check found under a lake's prefix.
type Report struct {
	// URL is the lake's, s3://BUCKET/PREFIX.
	URL string `json:"url"`
	// Objects are every object under the prefix, in key order.
	Objects []ObjectReport `json:"objects"`
}

// ObjectReport is one object of a Report.
type ObjectReport struct {
	// Key is the object's key relative to the prefix.
	Key string `json:"key"`
	// Table is the table the key says the object holds ("" when the key
	// does not follow the layout); Year, Dataset and Ticker likewise.
	Table   string `json:"table,omitempty"`
	Year    int    `json:"year,omitempty"`
	Dataset string `json:"dataset,omitempty"`
	Ticker  string `json:"ticker,omitempty"`
	// Rows is the number of rows the file holds (0 when unreadable).
	Rows int `json:"rows"`
	// Bytes is the object's size.
	Bytes int64 `json:"bytes"`
	// Problems say how the object does not follow the layout; empty when it
	// does.
	Problems []string `json:"problems,omitempty"`
}

// Bad returns the number of objects with problems.
func (r Report) Bad() int {
	n := 0
	for _, o := range r.Objects {
		if len(o.Problems) > 0 {
			n++
		}
	}
	return n
}

// Rows returns the number of rows in all objects.
func (r Report) Rows() int {
	n := 0
	for _, o := range r.Objects {
		n += o.Rows
	}
	return n
}

// Check lists every object under the lake's prefix and reads each one,
// reporting its row count and how it does not follow the layout of SPEC §7:
// a key of another pattern or not percent-encoded as required, content that
// is not Parquet or not of its table's schema, rows of another year or
// series than its key says, repeated keys, a sha256 metadata that is missing
// or not the content's hash. progress, when not nil, is called after each
// object with the number checked and the total. The error is for a lake
// that could not be listed or read at all, not for problems found.
func (l *Lake) Check(ctx context.Context, progress func(done, total int)) (Report, error) {
	all, err := l.list(ctx, l.prefix+"/")
	if err != nil {
		return Report{}, fmt.Errorf("lake check %s: %w", l.URL(), err)
	}
	rep := Report{URL: l.URL(), Objects: make([]ObjectReport, len(all))}
	var mu sync.Mutex // progress is called by one goroutine at a time
	done := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, o := range all {
		g.Go(func() error {
			r, err := l.checkObject(gctx, o)
			rep.Objects[i] = r
			if progress != nil {
				mu.Lock()
				done++
				progress(done, len(all))
				mu.Unlock()
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Report{}, fmt.Errorf("lake check %s: %w", l.URL(), err)
	}
	return rep, nil
}

// checkObject reads and checks one object.
func (l *Lake) checkObject(ctx context.Context, o listed) (ObjectReport, error) {
	r := ObjectReport{Key: o.key, Bytes: o.size}
	obj, err := parseKey(o.key)
	if err != nil {
		r.Problems = append(r.Problems, "key does not follow the layout: "+err.Error())
		return r, nil
	}
	r.Table, r.Year, r.Dataset, r.Ticker = obj.Table.Name, obj.Year, obj.Dataset, obj.Ticker
	cur, err := l.get(ctx, l.abs(o.key))
	if err != nil {
		return r, err
	}
	if cur == nil {
		r.Problems = append(r.Problems, "deleted while checking")
		return r, nil
	}
	switch {
	case cur.sum == "":
		r.Problems = append(r.Problems, "no "+MetadataSHA256+" metadata")
	case cur.sum != contentSum(cur.body):
		r.Problems = append(r.Problems, MetadataSHA256+" metadata is not the content's hash")
	}
	c := codecs[obj.Table.Name]
	rows, err := c.decode(cur.body)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r, nil
	}
	r.Rows = len(rows)
	r.Problems = append(r.Problems, checkRows(c.table, obj, rows)...)
	return r, nil
}

// checkRows finds rows that do not belong in the object, and repeated keys.
func checkRows(t markets.Table, obj object, rows []row) []string {
	var problems []string
	keys := keyIndexes(t)
	seen := make(map[string]bool, len(rows))
	var repeated, otherYear, otherSeries int
	var example string
	for _, r := range rows {
		k := keyString(keys, r)
		if seen[k] {
			repeated++
		}
		seen[k] = true
		if obj.Year == 0 {
			continue
		}
		if d := dateOf(r[t.Index(markets.ColDate)]); d.Year != obj.Year {
			if otherYear++; example == "" {
				example = d.String()
			}
		}
		if string(r[t.Index(markets.ColDataset)].ByteArray()) != obj.Dataset || string(r[t.Index(markets.ColTicker)].ByteArray()) != obj.Ticker {
			otherSeries++
		}
	}
	if repeated > 0 {
		problems = append(problems, fmt.Sprintf("%d rows repeat a key", repeated))
	}
	if otherYear > 0 {
		problems = append(problems, fmt.Sprintf("%d rows of another year than %d (e.g. %s)", otherYear, obj.Year, example))
	}
	if otherSeries > 0 {
		problems = append(problems, fmt.Sprintf("%d rows of another series than %s/%s", otherSeries, obj.Dataset, obj.Ticker))
	}
	return problems
}

// Formats of Report.Write.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatCSV   = "csv"
)

// ErrLayout is returned by RunCheck when some object does not follow the
// layout.
var ErrLayout = errors.New("objects do not follow the lake layout")

// Write prints the report as an aligned table with a summary line
// (FormatTable), one JSON document (FormatJSON) or CSV with a header
// (FormatCSV; problems joined by "; ").
func (r Report) Write(w io.Writer, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case FormatCSV:
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"key", "table", "year", "dataset", "ticker", "rows", "bytes", "problems"})
		for _, o := range r.Objects {
			year := ""
			if o.Year > 0 {
				year = strconv.Itoa(o.Year)
			}
			_ = cw.Write([]string{o.Key, o.Table, year, o.Dataset, o.Ticker, strconv.Itoa(o.Rows),
				strconv.FormatInt(o.Bytes, 10), strings.Join(o.Problems, "; ")})
		}
		cw.Flush()
		return cw.Error()
	case FormatTable, "":
		// Numbers right-aligned, text left-aligned.
		wr, wb := len("rows"), len("bytes")
		for _, o := range r.Objects {
			wr, wb = max(wr, len(strconv.Itoa(o.Rows))), max(wb, len(strconv.FormatInt(o.Bytes, 10)))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "%*s  %*s\t%s\t%s\n", wr, "rows", wb, "bytes", "key", "problems")
		for _, o := range r.Objects {
			fmt.Fprintf(tw, "%*d  %*d\t%s\t%s\n", wr, o.Rows, wb, o.Bytes, o.Key, strings.Join(o.Problems, "; "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "%s: %d objects, %d rows, %d not following the layout\n", r.URL, len(r.Objects), r.Rows(), r.Bad())
		return err
	}
	return fmt.Errorf("unknown format %q: want %s, %s or %s", format, FormatTable, FormatJSON, FormatCSV)
}

// RunCheck is the `lake check` command: it opens the lake at lakeURL,
// checks it with progress on stderr, and prints the report to stdout in the
// given format. It returns an error matching ErrLayout when some object does
// not follow the layout, so the command can exit non-zero.
func RunCheck(ctx context.Context, lakeURL, format string, stdout, stderr io.Writer, opts ...Option) error {
	if err := (Report{}).Write(io.Discard, format); err != nil {
		return err
	}
	l, err := Open(ctx, lakeURL, opts...)
	if err != nil {
		return err
	}
	rep, err := l.Check(ctx, func(done, total int) {
		if done == total || done%100 == 0 {
			fmt.Fprintf(stderr, "lake check: %d/%d objects\n", done, total)
		}
	})
	if err != nil {
		return err
	}
	if err := rep.Write(stdout, format); err != nil {
		return err
	}
	if n := rep.Bad(); n > 0 {
		return fmt.Errorf("%w: %d of %d objects under %s", ErrLayout, n, len(rep.Objects), rep.URL)
	}
	return nil
}
