package lake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"

	"github.com/acmecheckout/reports/internal/markets"
)

// ErrInvalidQuery is matched (errors.Is) by the errors of Latest, History
// and Newest for arguments they cannot answer (an unknown job, a malformed
// date or cursor).
var ErrInvalidQuery = errors.New("invalid lake query")

// jobTable returns the table of a job, or an error matching ErrInvalidQuery.
func jobTable(job markets.Job) (markets.Table, *codec, error) {
	t, ok := job.Table()
	if !ok {
		return markets.Table{}, nil, fmt.Errorf("%w: unknown job %q", ErrInvalidQuery, job)
	}
	c, err := codecOf(t)
	return t, c, err
}

// objects lists the job's objects that follow the layout, by dataset,
// ticker and year. Others are left to Check.
func (l *Lake) objects(ctx context.Context, job markets.Job) ([]object, error) {
	all, err := l.list(ctx, l.tablePrefix(string(job)))
	if err != nil {
		return nil, err
	}
	var out []object
	for _, o := range all {
		if obj, err := parseKey(o.key); err == nil {
			out = append(out, obj)
		}
	}
	slices.SortFunc(out, func(a, b object) int {
		return cmp.Or(cmp.Compare(a.Dataset, b.Dataset), cmp.Compare(a.Ticker, b.Ticker), cmp.Compare(a.Year, b.Year))
	})
	return out, nil
}

// rows reads the rows of one object (none if it vanished).
func (l *Lake) rows(ctx context.Context, c *codec, o object) ([]row, error) {
	cur, err := l.get(ctx, l.abs(o.key()))
	if err != nil || cur == nil {
		return nil, err
	}
	rows, err := c.decode(cur.body)
	if err != nil {
		return nil, fmt.Errorf("s3://%s/%s: %w", l.bucket, l.abs(o.key()), err)
	}
	return rows, nil
}

// readAll reads objects at once (at most the Lake's concurrency), returning
// their rows in the same order.
func (l *Lake) readAll(ctx context.Context, c *codec, objs []object) ([][]row, error) {
	out := make([][]row, len(objs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, o := range objs {
		g.Go(func() (err error) {
			out[i], err = l.rows(gctx, c, o)
			return err
		})
	}
	return out, g.Wait()
}

// newestRows returns the rows of the newest date among rows.
func newestRows(t markets.Table, rows []row) []row {
	date := t.Index(markets.ColDate)
	var out []row
	for _, r := range rows {
		if len(out) > 0 {
			c := compareCells(r[date], out[0][date])
			if c < 0 {
				continue
			}
			if c > 0 {
				out = out[:0]
			}
		}
		out = append(out, r)
	}
	return out
}

// Newest returns the newest date stored for the job's series dataset/ticker
// (the ETL's incremental window starts from it); ok is false when the lake
// holds no row of it.
func (l *Lake) Newest(ctx context.Context, job markets.Job, dataset, ticker string) (d markets.Date, ok bool, err error) {
	t, c, err := jobTable(job)
	if err != nil {
		return markets.Date{}, false, err
	}
	objs, err := l.objects(ctx, job)
	if err != nil {
		return markets.Date{}, false, fmt.Errorf("lake newest %s/%s: %w", dataset, ticker, err)
	}
	objs = slices.DeleteFunc(objs, func(o object) bool { return o.Dataset != dataset || o.Ticker != ticker })
	for i := len(objs) - 1; i >= 0; i-- { // newest year first
		rows, err := l.rows(ctx, c, objs[i])
		if err != nil {
			return markets.Date{}, false, fmt.Errorf("lake newest %s/%s: %w", dataset, ticker, err)
		}
		if newest := newestRows(t, rows); len(newest) > 0 {
			return dateOf(newest[0][t.Index(markets.ColDate)]), true, nil
		}
	}
	return markets.Date{}, false, nil
}

// Latest returns each series' newest rows of the job's table: the row of
// its newest date (for interest_rates, every key of that date), read from
// the newest year's object of each series. The batch carries every table
// column, rows ordered by the table's key; its Dataset is zero.
func (l *Lake) Latest(ctx context.Context, job markets.Job) (markets.Batch, error) {
	t, c, err := jobTable(job)
	if err != nil {
		return markets.Batch{}, err
	}
	objs, err := l.objects(ctx, job)
	if err != nil {
		return markets.Batch{}, fmt.Errorf("lake latest %s: %w", job, err)
	}
	// Objects are sorted by series then year: keep each series' last.
	var newest []object
	for i, o := range objs {
		if i+1 == len(objs) || objs[i+1].Dataset != o.Dataset || objs[i+1].Ticker != o.Ticker {
			newest = append(newest, o)
		}
	}
	read, err := l.readAll(ctx, c, newest)
	if err != nil {
		return markets.Batch{}, fmt.Errorf("lake latest %s: %w", job, err)
	}
	var rows []row
	for i, o := range newest {
		top := newestRows(t, read[i])
		if len(top) == 0 { // an empty newest object: look in the series' earlier years
			if top, err = l.newestBefore(ctx, c, objs, o); err != nil {
				return markets.Batch{}, fmt.Errorf("lake latest %s: %w", job, err)
			}
		}
		rows = append(rows, top...)
	}
	keys := keyIndexes(t)
	slices.SortFunc(rows, func(a, b row) int { return compareKeys(keys, a, b) })
	return batchOf(t, rows), nil
}

// newestBefore returns the newest rows of o's series in its years before o's.
func (l *Lake) newestBefore(ctx context.Context, c *codec, objs []object, o object) ([]row, error) {
	for i := len(objs) - 1; i >= 0; i-- {
		p := objs[i]
		if p.Dataset != o.Dataset || p.Ticker != o.Ticker || p.Year >= o.Year {
			continue
		}
		rows, err := l.rows(ctx, c, p)
		if err != nil {
			return nil, err
		}
		if top := newestRows(c.table, rows); len(top) > 0 {
			return top, nil
		}
	}
	return nil, nil
}

// History returns up to limit rows of the job's table whose ticker is
// ticker (any dataset) and whose date is within [start, end], ordered by the
// table's key, beginning strictly after the row whose key values (in the
// order of the table's Key, dates as YYYY-MM-DD) are after; nil after begins
// at the first row. The batch carries every table column; its Dataset is
// zero. Fewer than limit rows means there are no more.
func (l *Lake) History(ctx context.Context, job markets.Job, ticker string, start, end markets.Date, after []markets.Value, limit int) (markets.Batch, error) {
	t, c, err := jobTable(job)
	if err != nil {
		return markets.Batch{}, err
	}
	from, to, cursor, err := historyArgs(t, start, end, after, limit)
	if err != nil {
		return markets.Batch{}, err
	}
	objs, err := l.objects(ctx, job)
	if err != nil {
		return markets.Batch{}, fmt.Errorf("lake history %s %s: %w", job, ticker, err)
	}
	keys := keyIndexes(t)
	date := t.Index(markets.ColDate)
	objs = slices.DeleteFunc(objs, func(o object) bool {
		if o.Ticker != ticker || o.Year < start.Year || o.Year > end.Year {
			return true
		}
		// Objects wholly before the cursor: of an earlier dataset, or of its
		// dataset and an earlier year than its date.
		if cursor == nil {
			return false
		}
		ds := string(cursor[t.Index(markets.ColDataset)].ByteArray())
		return o.Dataset < ds || o.Dataset == ds && o.Year < dateOf(cursor[date]).Year
	})
	var out []row
	for len(objs) > 0 && len(out) < limit {
		window := objs[:min(len(objs), concurrency)]
		objs = objs[len(window):]
		read, err := l.readAll(ctx, c, window)
		if err != nil {
			return markets.Batch{}, fmt.Errorf("lake history %s %s: %w", job, ticker, err)
		}
		for _, rows := range read {
			for _, r := range rows {
				if compareCells(r[date], from) < 0 || compareCells(r[date], to) > 0 ||
					cursor != nil && compareKeys(keys, r, cursor) <= 0 {
					continue
				}
				if out = append(out, r); len(out) == limit {
					break
				}
			}
			if len(out) == limit {
				break
			}
		}
	}
	return batchOf(t, out), nil
}

// historyArgs checks History's arguments and converts the dates and the
// cursor (as a row holding only the key columns) to stored cells.
func historyArgs(t markets.Table, start, end markets.Date, after []markets.Value, limit int) (from, to parquet.Value, cursor row, err error) {
	fail := func(format string, args ...any) (parquet.Value, parquet.Value, row, error) {
		return parquet.Value{}, parquet.Value{}, nil, fmt.Errorf("%w: %s", ErrInvalidQuery, fmt.Sprintf(format, args...))
	}
	if limit < 1 {
		return fail("limit %d: want at least 1", limit)
	}
	if from, err = cellOf(markets.Day, markets.TextValue(start.String())); err != nil {
		return fail("start: %v", err)
	}
	if to, err = cellOf(markets.Day, markets.TextValue(end.String())); err != nil {
		return fail("end: %v", err)
	}
	if after == nil {
		return from, to, nil, nil
	}
	if len(after) != len(t.Key) {
		return fail("cursor has %d values, want %d (%v)", len(after), len(t.Key), t.Key)
	}
	cursor = make(row, len(t.Columns))
	for i, k := range t.Key {
		col := t.Columns[t.Index(k)]
		if !after[i].Valid {
			return fail("cursor value %s is NULL", k)
		}
		if cursor[t.Index(k)], err = cellOf(col.Kind, after[i]); err != nil {
			return fail("cursor value %s: %v", k, err)
		}
	}
	return from, to, cursor, nil
}

// batchOf returns rows as a batch of every column of t.
func batchOf(t markets.Table, rows []row) markets.Batch {
	b := markets.Batch{Table: t, Columns: t.ColumnNames(), Rows: make([][]markets.Value, len(rows))}
	for i, r := range rows {
		out := make([]markets.Value, len(r))
		for j, v := range r {
			out[j] = valueOf(t.Columns[j].Kind, v)
		}
		b.Rows[i] = out
	}
	return b
}
