package lake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"

	"github.com/acmecheckout/reports/internal/backoff"
	"github.com/acmecheckout/reports/internal/markets"
)

// conflictBackoff spaces the attempts of a read-merge-write that lost a race.
var conflictBackoff = backoff.Policy{Base: 25 * time.Millisecond, Max: time.Second}

// Upsert writes one laid-out series (markets.Layout) into the lake: its rows
// into one object per year of their dates, {job}/year=YYYY/{dataset}.{ticker}.parquet,
// and the series into markets/data.parquet. Each object is merged with the
// one already there by the table's key: a table column the batch does not
// carry keeps its stored value (NULL in a new row). An object whose content
// would not change is not written, so loading the same window again writes
// nothing and returns 0; otherwise it returns the number of rows inserted or
// changed, as the warehouse does.
//
// Writes are conditional (If-Match on the ETag read, If-None-Match: * for a
// new object): when another writer changed the object in between, Upsert
// reads, merges and writes it again, so concurrent runs lose nothing.
//
// Every value is stored exactly: a number that DECIMAL(38,18) cannot hold
// (a non-zero 19th decimal place, more than 20 integer digits) is an error,
// and nothing of the series is written. An object that cannot be read as
// its table's Parquet is an error matching ErrUnreadable, and is left as is.
// Years are written at once (up to eight at a time): when one year's object fails,
// the others may be written, each whole, and a re-run completes the series.
func (l *Lake) Upsert(ctx context.Context, b markets.Batch) (int, error) {
	n, err := l.upsert(ctx, b)
	if err != nil {
		return 0, fmt.Errorf("lake upsert %s: %w", b.Dataset, err)
	}
	return n, nil
}

func (l *Lake) upsert(ctx context.Context, b markets.Batch) (int, error) {
	ds := b.Dataset
	job, err := markets.ParseJob(b.Table.Name)
	if err != nil {
		return 0, err
	}
	c, err := codecOf(b.Table)
	if err != nil {
		return 0, err
	}
	if ds.Database == "" || ds.Ticker == "" {
		return 0, fmt.Errorf("the batch's dataset needs a database and a ticker")
	}
	if ds.Database[0] == '_' {
		// Athena, like Hive, skips files whose names begin with _ or .
		return 0, fmt.Errorf("dataset %q begins with _: Athena would not see its objects", ds.Database)
	}
	present, rows, err := rowsOf(c, b)
	if err != nil {
		return 0, err
	}
	byYear := map[int][]row{}
	date := b.Table.Index(markets.ColDate)
	for _, r := range rows {
		y := dateOf(r[date]).Year
		byYear[y] = append(byYear[y], r)
	}

	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for _, y := range slices.Sorted(maps.Keys(byYear)) {
		key := l.abs(SeriesKey(job, y, ds.Database, ds.Ticker))
		g.Go(func() error {
			n, err := l.mergeObject(gctx, c, key, present, byYear[y])
			total.Add(int64(n))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	if err := l.recordSeries(ctx, ds); err != nil {
		return 0, err
	}
	return int(total.Load()), nil
}

// rowsOf converts the batch's rows to stored rows of its table, and says
// which table columns the batch carries. It checks that the key columns are
// there and set, that every row belongs to the batch's dataset, and that
// every value converts exactly.
func rowsOf(c *codec, b markets.Batch) (present []bool, rows []row, err error) {
	t := c.table
	present = make([]bool, len(t.Columns))
	at := make([]int, len(b.Columns)) // batch column -> table column
	for i, name := range b.Columns {
		at[i] = t.Index(name)
		if at[i] < 0 {
			return nil, nil, fmt.Errorf("column %q is not a column of %s", name, t.Name)
		}
		if present[at[i]] {
			return nil, nil, fmt.Errorf("column %q appears twice", name)
		}
		present[at[i]] = true
	}
	for _, k := range t.Key {
		if !present[t.Index(k)] {
			return nil, nil, fmt.Errorf("batch lacks key column %q of %s", k, t.Name)
		}
	}
	dataset, ticker := t.Index(markets.ColDataset), t.Index(markets.ColTicker)
	keys := keyIndexes(t)
	seen := make(map[string]bool, len(b.Rows))
	kinds := make([]markets.Kind, len(b.Columns))
	for j := range b.Columns {
		kinds[j] = t.Columns[at[j]].Kind
	}
	cells := make([]parquet.Value, len(b.Columns))
	rows = make([]row, len(b.Rows))
	for i, in := range b.Rows {
		if len(in) != len(b.Columns) {
			return nil, nil, fmt.Errorf("row %d has %d values for %d columns", i, len(in), len(b.Columns))
		}
		if err := cellsOf(kinds, in, cells); err != nil {
			// Convert again one by one to name the column.
			for j, v := range in {
				if _, err := cellOf(kinds[j], v); err != nil {
					return nil, nil, fmt.Errorf("row %d column %s: %w", i, b.Columns[j], err)
				}
			}
			return nil, nil, fmt.Errorf("row %d: %w", i, err)
		}
		r := make(row, len(t.Columns))
		for j, v := range in {
			r[at[j]] = cells[j]
			if !v.Valid && t.IsKey(b.Columns[j]) {
				return nil, nil, fmt.Errorf("row %d: key column %s is NULL", i, b.Columns[j])
			}
		}
		k := keyString(keys, r)
		if seen[k] {
			return nil, nil, fmt.Errorf("two rows have the key %s", describeKey(t, keys, r))
		}
		seen[k] = true
		if string(r[dataset].ByteArray()) != b.Dataset.Database || string(r[ticker].ByteArray()) != b.Dataset.Ticker {
			return nil, nil, fmt.Errorf("row %d belongs to %s/%s, not to the batch's dataset", i, r[dataset].ByteArray(), r[ticker].ByteArray())
		}
		rows[i] = r
	}
	return present, rows, nil
}

// mergeObject merges rows into the object at key (full key) and writes it
// back unless its content would not change, retrying when another writer
// won the race. It returns the number of rows inserted or changed.
func (l *Lake) mergeObject(ctx context.Context, c *codec, key string, present []bool, rows []row) (int, error) {
	for attempt := 1; ; attempt++ {
		cur, err := l.get(ctx, key)
		if err != nil {
			return 0, err
		}
		var old []row
		etag := ""
		if cur != nil {
			if old, err = c.decode(cur.body); err != nil {
				return 0, fmt.Errorf("s3://%s/%s: %w", l.bucket, key, err)
			}
			etag = cur.etag
		}
		merged, n, err := merge(c.table, old, present, rows)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		if n == 0 && cur != nil && cur.sum == contentSum(cur.body) {
			// Every row is as stored and the object is as the lake wrote
			// it: encoding the same rows again would give the same bytes.
			return 0, nil
		}
		body, err := c.encode(merged)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		if cur != nil && cur.sum == contentSum(body) {
			return 0, nil // the object already holds exactly this
		}
		err = l.put(ctx, key, body, etag)
		if err == nil {
			return n, nil
		}
		if !isConflict(err) || attempt >= conflictAttempts {
			return 0, fmt.Errorf("attempt %d: %w", attempt, err)
		}
		l.opts.logger.DebugContext(ctx, "lake write conflict, merging again", "key", key, "attempt", attempt)
		if err := backoff.Sleep(ctx, conflictBackoff.Delay(attempt)); err != nil {
			return 0, err
		}
	}
}

// merge upserts rows into old by the table's key: a new key adds the row, a
// known key takes the present columns' values. It returns the rows sorted by
// key and how many were inserted or changed; a key twice in rows is an error.
func merge(t markets.Table, old []row, present []bool, rows []row) ([]row, int, error) {
	keys := keyIndexes(t)
	merged := slices.Grow(old, len(rows))
	index := make(map[string]int, len(old)+len(rows))
	for i, r := range merged {
		index[keyString(keys, r)] = i
	}
	seen := make(map[string]bool, len(rows))
	n := 0
	for _, r := range rows {
		k := keyString(keys, r)
		if seen[k] {
			return nil, 0, fmt.Errorf("two rows have the key %s", describeKey(t, keys, r))
		}
		seen[k] = true
		i, ok := index[k]
		if !ok {
			index[k] = len(merged)
			merged = append(merged, slices.Clone(r))
			n++
			continue
		}
		changed := false
		for col, p := range present {
			if p && !parquet.Equal(merged[i][col], r[col]) {
				merged[i][col] = r[col]
				changed = true
			}
		}
		if changed {
			n++
		}
	}
	slices.SortFunc(merged, func(a, b row) int { return compareKeys(keys, a, b) })
	return merged, n, nil
}

// describeKey shows a row's key values for an error.
func describeKey(t markets.Table, keys []int, r row) string {
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += t.Key[i] + "=" + valueOf(t.Columns[k].Kind, r[k]).String()
	}
	return "(" + s + ")"
}

// recordSeries makes sure markets/data.parquet lists the dataset with its
// description. A series this Lake recorded or found there before is not
// read again.
func (l *Lake) recordSeries(ctx context.Context, ds markets.Dataset) error {
	id := ds.Database + "\x00" + ds.Ticker
	l.mu.Lock()
	desc, ok := l.known[id]
	l.mu.Unlock()
	if ok && desc == ds.Description {
		return nil
	}
	c := codecs[markets.MarketsTable.Name]
	r := row{
		parquet.ByteArrayValue([]byte(ds.Database)),
		parquet.ByteArrayValue([]byte(ds.Ticker)),
		parquet.ByteArrayValue([]byte(ds.Description)),
	}
	if _, err := l.mergeObject(ctx, c, l.abs(MarketsKey), []bool{true, true, true}, []row{r}); err != nil {
		return fmt.Errorf("record the series in %s: %w", MarketsKey, err)
	}
	l.mu.Lock()
	l.known[id] = ds.Description
	l.mu.Unlock()
	return nil
}
