package api_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/purchase"
)

// errBoom is the failure of a broken store; its text must never reach a client.
var errBoom = errors.New("dial tcp 10.0.0.7:5432: password authentication failed for user reader")

// fakeReports is purchase.Reader over a map; every call fails when broken.
type fakeReports struct {
	counts map[string]int64
	broken bool
}

func (f *fakeReports) Get(_ context.Context, datapoint string) (purchase.Total, error) {
	if f.broken {
		return purchase.Total{}, errBoom
	}
	n, ok := f.counts[datapoint]
	if !ok {
		return purchase.Total{}, fmt.Errorf("get %s: %w", datapoint, purchase.ErrNotFound)
	}
	return purchase.Total{Datapoint: datapoint, Events: n}, nil
}

func (f *fakeReports) List(_ context.Context, r purchase.Report, day string) ([]purchase.Total, error) {
	if f.broken {
		return nil, errBoom
	}
	var out []purchase.Total
	for k, n := range f.counts {
		dp, err := purchase.ParseDatapoint(k)
		if err == nil && dp.Report == r && dp.Day() == day {
			out = append(out, purchase.Total{Datapoint: k, Events: n})
		}
	}
	slices.SortFunc(out, func(a, b purchase.Total) int { return cmp.Compare(a.Datapoint, b.Datapoint) })
	return out, nil
}

// fakeMarkets is MarketData over rows held in memory, each written as its
// table's columns joined by "|" (NULL for missing); it keeps the contract of
// the interface (all columns, key order, strictly after the cursor).
type fakeMarkets struct {
	rows   map[markets.Job][]string
	broken bool
	// calls records History's arguments, for checking the page size asked.
	calls []string
}

func (f *fakeMarkets) batch(job markets.Job, keep func(row []markets.Value) bool) markets.Batch {
	t, _ := job.Table()
	b := markets.Batch{Dataset: markets.Dataset{Job: job}, Table: t, Columns: t.ColumnNames()}
	for _, line := range f.rows[job] {
		var row []markets.Value
		for cell := range strings.SplitSeq(line, "|") {
			row = append(row, markets.Value{Text: cell, Valid: cell != "NULL"})
		}
		if keep(row) {
			b.Rows = append(b.Rows, row)
		}
	}
	slices.SortFunc(b.Rows, func(x, y []markets.Value) int { return strings.Compare(b.Key(x), b.Key(y)) })
	return b
}

func (f *fakeMarkets) Latest(_ context.Context, job markets.Job) (markets.Batch, error) {
	if f.broken {
		return markets.Batch{}, errBoom
	}
	all := f.batch(job, func([]markets.Value) bool { return true })
	date := all.Column(markets.ColDate)
	newest := map[string]string{} // dataset|ticker -> newest date
	for _, r := range all.Rows {
		s := r[0].Text + "|" + r[1].Text
		newest[s] = max(newest[s], r[date].Text)
	}
	return f.batch(job, func(r []markets.Value) bool { return newest[r[0].Text+"|"+r[1].Text] == r[date].Text }), nil
}

func (f *fakeMarkets) History(_ context.Context, job markets.Job, ticker string, start, end markets.Date, after []markets.Value, limit int) (markets.Batch, error) {
	f.calls = append(f.calls, fmt.Sprintf("%s %s %s %s %v %d", job, ticker, start, end, after, limit))
	if f.broken {
		return markets.Batch{}, errBoom
	}
	t, _ := job.Table()
	var afterKey string
	if after != nil {
		parts := make([]string, len(after))
		for i, v := range after {
			parts[i] = v.Text
		}
		afterKey = strings.Join(parts, "\x00")
	}
	b := f.batch(job, func(r []markets.Value) bool {
		d := r[t.Index(markets.ColDate)].Text
		return r[1].Text == ticker && d >= start.String() && d <= end.String()
	})
	var rows [][]markets.Value
	for _, r := range b.Rows {
		if (after == nil || b.Key(r) > afterKey) && len(rows) < limit {
			rows = append(rows, r)
		}
	}
	b.Rows = rows
	return b, nil
}
