package report_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/acmecheckout/reports/internal/golden"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/report"
)

// counts is a slice of the merchant-method report as a list returns it.
var counts = []purchase.Total{
	{Datapoint: "0e4e7e03-2996-47e4-9a33-c8c1a3309b6f|PAY_LATER", Events: 7},
	{Datapoint: "0e4e7e03-2996-47e4-9a33-c8c1a3309b6f|PAY_NOW", Events: 1042},
	{Datapoint: "0e4e7e03-2996-47e4-9a33-c8c1a3309b6f|SLICE_IT", Events: 3},
	{Datapoint: "37ff5b02-5782-4272-a304-a41b6ceeb893|PAY_NOW", Events: 42},
}

func TestFormats(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		write  func(*bytes.Buffer) error
	}{
		{"json", "counts.jsonl", func(b *bytes.Buffer) error { return report.Write(b, report.JSON, counts) }},
		{"csv", "counts.csv", func(b *bytes.Buffer) error { return report.Write(b, report.CSV, counts) }},
		{"table", "counts.table.txt", func(b *bytes.Buffer) error { return report.Write(b, report.Table, counts) }},
		{"top two", "counts.top2.txt", func(b *bytes.Buffer) error { return report.WriteTable(b, report.ByEvents(counts), 2) }},
		{"limit above length", "counts.table.txt", func(b *bytes.Buffer) error { return report.WriteTable(b, counts, 10) }},
		{"empty json", "empty.jsonl", func(b *bytes.Buffer) error { return report.WriteJSONLines(b, nil) }},
		{"empty table", "empty.table.txt", func(b *bytes.Buffer) error { return report.WriteTable(b, nil, 5) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.write(&buf); err != nil {
				t.Fatal(err)
			}
			golden.Bytes(t, filepath.Join("testdata", tc.golden), buf.Bytes())
		})
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    report.Format
		wantErr bool
	}{
		{"json", report.JSON, false},
		{"csv", report.CSV, false},
		{"table", report.Table, false},
		{"JSON", "", true},
		{"yaml", "", true},
		{"", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := report.ParseFormat(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ParseFormat(%q) = %q, %v", tc.in, got, err)
			}
		})
	}
}

func TestByEventsAndTotal(t *testing.T) {
	got := report.ByEvents(counts)
	want := []int64{1042, 42, 7, 3}
	for i, c := range got {
		if c.Events != want[i] {
			t.Fatalf("ByEvents order = %v", got)
		}
	}
	if counts[0].Events != 7 {
		t.Fatal("ByEvents changed its input")
	}
	if n := report.Total(counts); n != 1094 {
		t.Fatalf("Total = %d, want 1094", n)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrors(t *testing.T) {
	for _, f := range []report.Format{report.JSON, report.CSV, report.Table} {
		t.Run(string(f), func(t *testing.T) {
			if err := report.Write(failWriter{}, f, counts); err == nil {
				t.Fatal("want the writer's error")
			}
		})
	}
	if err := report.Write(&bytes.Buffer{}, "xml", counts); err == nil {
		t.Fatal("want an error for an unknown format")
	}
}
