package etl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/markets"
)

// The unit tests run the ETL on small fakes of its own interfaces: no
// network, no database. integration_test.go runs it on the real ones.

// day parses YYYY-MM-DD.
func day(t testing.TB, s string) markets.Date {
	t.Helper()
	d, err := markets.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fakeSource answers each code with the daily values of series (one value
// column, "value", the day of the month as value) between the dates given,
// or with the error errs holds for it. It records the windows asked for.
type fakeSource struct {
	mu      sync.Mutex
	first   map[string]markets.Date // code -> first date with data
	last    map[string]markets.Date // code -> last date with data
	errs    map[string]error
	columns map[string][]string // code -> columns (default ["value"])
	delay   time.Duration
	block   map[string]bool // codes whose fetch waits for ctx to end
	asked   []string        // "code start..end"
}

func newFakeSource() *fakeSource {
	return &fakeSource{first: map[string]markets.Date{}, last: map[string]markets.Date{}, errs: map[string]error{}, columns: map[string][]string{}}
}

// has makes code hold daily data from first to last.
func (f *fakeSource) has(code string, first, last markets.Date) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.first[code], f.last[code] = first, last
}

func (f *fakeSource) Fetch(ctx context.Context, e markets.Entry, start, end markets.Date) (markets.Series, error) {
	f.mu.Lock()
	f.asked = append(f.asked, fmt.Sprintf("%s %s..%s", e.Code, start, end))
	first, last, err, cols, block := f.first[e.Code], f.last[e.Code], f.errs[e.Code], f.columns[e.Code], f.block[e.Code]
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return markets.Series{}, fmt.Errorf("fetch %s: %w", e.Code, ctx.Err())
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return markets.Series{}, fmt.Errorf("fetch %s: %w", e.Code, ctx.Err())
		}
	}
	if err != nil {
		return markets.Series{}, fmt.Errorf("fetch %s: %w", e.Code, err)
	}
	if cols == nil {
		cols = []string{"value"}
	}
	s := markets.Series{Dataset: e.Dataset, Columns: cols}
	for d := start; !end.Before(d); d = d.AddDays(1) {
		if first.Before(d.AddDays(1)) && !last.Before(d) {
			v := make([]string, len(cols))
			for i := range v {
				v[i] = fmt.Sprint(d.Day)
			}
			s.Rows = append(s.Rows, markets.Row{Date: d, Values: v})
		}
	}
	return s, nil
}

func (f *fakeSource) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

// fakeSink stores batches in memory by dataset/ticker and date, counting
// rows inserted or changed as the warehouse does.
type fakeSink struct {
	mu        sync.Mutex
	rows      map[string]map[markets.Date]string // dataset/ticker -> date -> row text
	failWith  error
	newestErr error
}

func newFakeSink() *fakeSink { return &fakeSink{rows: map[string]map[markets.Date]string{}} }

func (f *fakeSink) Upsert(_ context.Context, b markets.Batch) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return 0, fmt.Errorf("upsert %s: %w", b.Dataset, f.failWith)
	}
	key := b.Dataset.Database + "/" + b.Dataset.Ticker
	if f.rows[key] == nil {
		f.rows[key] = map[markets.Date]string{}
	}
	dateCol := b.Column(markets.ColDate)
	n := 0
	for _, r := range b.Rows {
		d, _ := markets.ParseDate(r[dateCol].Text)
		text := fmt.Sprint(r)
		if f.rows[key][d] != text {
			n++
		}
		f.rows[key][d] = text
	}
	return n, nil
}

func (f *fakeSink) Newest(_ context.Context, _ markets.Job, dataset, ticker string) (markets.Date, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.newestErr != nil {
		return markets.Date{}, false, f.newestErr
	}
	var newest markets.Date
	ok := false
	for d := range f.rows[dataset+"/"+ticker] {
		if !ok || newest.Before(d) {
			newest, ok = d, true
		}
	}
	return newest, ok, nil
}

// holds makes the sink hold one row of dataset/ticker dated d.
func (f *fakeSink) holds(key string, d markets.Date) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rows[key] == nil {
		f.rows[key] = map[markets.Date]string{}
	}
	f.rows[key][d] = "stored"
}

// count returns how many dates the sink holds for dataset/ticker.
func (f *fakeSink) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rows[key])
}

// catalog parses a catalog of fred economics entries for codes, each
// dataset FRED and ticker its code.
func catalog(t testing.TB, job markets.Job, codes ...string) markets.Catalog {
	t.Helper()
	var entries []string
	for _, c := range codes {
		entries = append(entries, fmt.Sprintf(`{"job": %q, "source": "fred", "code": %q, "dataset": "FRED", "ticker": %q}`, job, c, c))
	}
	cat, err := markets.ParseCatalog([]byte(`{"series": [` + strings.Join(entries, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// lockedBuffer is a bytes.Buffer safe for concurrent log writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var errBoom = errors.New("boom")
