package lake_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/acmecheckout/reports/internal/lake"
	"github.com/acmecheckout/reports/internal/markets"
)

func timeMonth(m int) time.Month { return time.Month(m) }

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// parquetOf writes rows as a Parquet file of their own schema.
func parquetOf[T any](t testing.TB, rows []T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// texts shows a batch's rows as text, NULL for NULL.
func texts(b markets.Batch) [][]string {
	out := make([][]string, len(b.Rows))
	for i, r := range b.Rows {
		for _, v := range r {
			out[i] = append(out[i], v.String())
		}
	}
	return out
}

// history reads every row of a ticker in [start, end] through History, two
// rows a page, following the cursor (the last row's key values).
func history(t testing.TB, l *lake.Lake, job markets.Job, ticker string, start, end markets.Date) [][]string {
	t.Helper()
	const page = 2
	var out [][]string
	var after []markets.Value
	for {
		b, err := l.History(context.Background(), job, ticker, start, end, after, page)
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		if want := b.Table.ColumnNames(); !slices.Equal(b.Columns, want) || !reflect.ValueOf(b.Dataset).IsZero() {
			t.Fatalf("History batch columns %v dataset %v, want every column %v and no dataset", b.Columns, b.Dataset, want)
		}
		out = append(out, texts(b)...)
		if len(b.Rows) < page {
			return out
		}
		last := b.Rows[len(b.Rows)-1]
		after = nil
		for _, k := range b.Table.Key {
			after = append(after, last[b.Column(k)])
		}
	}
}
