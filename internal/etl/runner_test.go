package etl_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/etl"
	"github.com/acmecheckout/reports/internal/markets"
)

// tickerLine is a series' outcome in one comparable line.
func tickerLine(ts etl.TickerSummary) string {
	str := func(d *markets.Date) string {
		if d == nil {
			return "null"
		}
		return d.String()
	}
	line := fmt.Sprintf("%s %s %s..%s newest %s fetched %d written %d", ts.Ticker, ts.Status, str(ts.StartDate), ts.EndDate, str(ts.NewestDate), ts.RowsFetched, ts.RowsWritten)
	if ts.Reason != "" {
		line += " (" + string(ts.Reason) + ")"
	}
	return line
}

// TestRunStatuses: each way a series can end, with its counts, its action
// for the operator, its log line at the right level, and the run's error.
func TestRunStatuses(t *testing.T) {
	src := newFakeSource()
	end := day(t, "2025-01-10")
	src.has("OK", day(t, "2024-01-01"), end)
	src.has("STALE", day(t, "2024-01-01"), day(t, "2024-12-20"))
	src.has("BADCOL", day(t, "2024-01-01"), end)
	src.columns["BADCOL"] = []string{"volume"}
	src.errs["GONE"] = fmt.Errorf("HTTP 410: %w", markets.ErrRetired)
	src.errs["NOPE"] = fmt.Errorf("HTTP 404: %w", markets.ErrNotFound)
	src.errs["DOWN"] = errors.New("HTTP 503 after 5 attempts")
	cat := catalog(t, markets.Economics, "OK", "STALE", "GONE", "NOPE", "DOWN", "BADCOL", "EMPTY")
	var logs lockedBuffer
	r := &etl.Runner{Catalog: cat, Sources: map[markets.Source]etl.Fetcher{markets.SourceFRED: src}, Sinks: []etl.Sink{newFakeSink()},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	sum := r.Run(context.Background(), []etl.Window{{Job: markets.Economics, End: end}})

	want := []string{
		"OK ok 2025-01-04..2025-01-10 newest 2025-01-10 fetched 7 written 7",
		"STALE stale 2025-01-04..2025-01-10 newest null fetched 0 written 0",
		"GONE retired 2025-01-04..2025-01-10 newest null fetched 0 written 0",
		"NOPE not_found 2025-01-04..2025-01-10 newest null fetched 0 written 0",
		"DOWN failed 2025-01-04..2025-01-10 newest null fetched 0 written 0 (source)",
		"BADCOL failed 2025-01-04..2025-01-10 newest null fetched 7 written 0 (invalid)",
		"EMPTY stale 2025-01-04..2025-01-10 newest null fetched 0 written 0",
	}
	j := sum.Jobs[0]
	for i, ts := range j.Tickers {
		if got := tickerLine(ts); got != want[i] {
			t.Errorf("ticker %d: %s\nwant       %s", i, got, want[i])
		}
		if (ts.Status == etl.StatusOK) != (ts.Action == "") {
			t.Errorf("%s: action %q: want one exactly when not ok", ts.Ticker, ts.Action)
		}
	}
	if sum.OK || sum.Failed != 2 || sum.Retired != 1 || sum.NotFound != 1 || sum.Stale != 2 || sum.RowsWritten != 7 ||
		j.Failed != 2 || j.Retired != 1 || j.NotFound != 1 || j.Stale != 2 || j.StartDate.String() != "2025-01-04" {
		t.Errorf("totals %+v, job %+v", sum, j)
	}
	for _, c := range []struct{ ticker, action string }{
		{"GONE", "replace this catalog entry with a maintained series"},
		{"NOPE", "check the entry's code (and filters) in the catalog"},
		{"STALE", "no observation is stored, more than 120 days before 2025-01-10"},
		{"DOWN", "still so after the retries"},
		{"BADCOL", "map its columns with the entry's columns and constants"},
	} {
		for _, ts := range j.Tickers {
			if ts.Ticker == c.ticker && !strings.Contains(ts.Action, c.action) {
				t.Errorf("%s action %q, want %q", ts.Ticker, ts.Action, c.action)
			}
		}
	}
	wantErr := "markets etl: 4 of 7 series did not load (2 failed, 1 retired, 1 not_found): FRED/GONE: retired: fetch GONE: HTTP 410: series retired; " +
		"FRED/NOPE: not_found: fetch NOPE: HTTP 404: series not found; FRED/DOWN: failed (source): fetch DOWN: HTTP 503 after 5 attempts; " +
		`FRED/BADCOL: failed (invalid): invalid series: FRED/BADCOL: column "volume" is not a value column of economics (it has value)`
	if err := sum.Err(); err == nil || err.Error() != wantErr {
		t.Errorf("Err = %v\nwant  %s", err, wantErr)
	}
	levels := map[string]int{}
	for line := range strings.Lines(logs.String()) {
		var rec struct{ Level, Msg, Ticker string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		levels[rec.Level+" "+rec.Msg]++
	}
	if levels["INFO series loaded"] != 1 || levels["WARN series is stale"] != 2 || levels["ERROR series did not load"] != 4 {
		t.Errorf("log lines by level: %v", levels)
	}
}

// TestRunIncremental: without a start date each series loads from its
// newest stored date minus 7 days, so a run after an outage closes the gap
// (a year at a time), and the next run starts where it ended.
func TestRunIncremental(t *testing.T) {
	src := newFakeSource()
	src.has("DFF", day(t, "2015-01-01"), day(t, "2025-01-10"))
	src.has("NEW", day(t, "2015-01-01"), day(t, "2025-01-10"))
	sink := newFakeSink()
	sink.holds("FRED/DFF", day(t, "2023-11-30")) // a gap of over a year
	r := &etl.Runner{Catalog: catalog(t, markets.Currency, "DFF", "NEW"), Sources: map[markets.Source]etl.Fetcher{markets.SourceFRED: src},
		Sinks: []etl.Sink{sink}, Concurrency: 1}
	r.Catalog.Series[0].Columns = map[string]string{"value": "rate"}
	r.Catalog.Series[1].Columns = map[string]string{"value": "rate"}
	end := day(t, "2025-01-10")

	sum := r.Run(context.Background(), []etl.Window{{Job: markets.Currency, End: end}})
	if !sum.OK {
		t.Fatal(sum.Err())
	}
	want := "DFF 2023-11-23..2024-11-22, DFF 2024-11-23..2025-01-10, NEW 2025-01-04..2025-01-10"
	if got := strings.Join(src.requests(), ", "); got != want {
		t.Errorf("fetched %s\nwant    %s", got, want)
	}
	if got := tickerLine(sum.Jobs[0].Tickers[0]); got != "DFF ok 2023-11-23..2025-01-10 newest 2025-01-10 fetched 415 written 415" {
		t.Errorf("DFF: %s", got)
	}

	// The next day: a week of revisions, for both series.
	src.asked = nil
	end = day(t, "2025-01-11")
	src.has("DFF", day(t, "2015-01-01"), end)
	sum = r.Run(context.Background(), []etl.Window{{Job: markets.Currency, End: end}})
	if want := "DFF 2025-01-03..2025-01-11, NEW 2025-01-03..2025-01-11"; strings.Join(src.requests(), ", ") != want {
		t.Errorf("next run fetched %s\nwant                %s", strings.Join(src.requests(), ", "), want)
	}
	// DFF gains the new day; NEW, first loaded over the default week, gains
	// the day before it, which its window of revisions now reaches.
	if sum.Jobs[0].Tickers[0].RowsWritten != 1 || sum.Jobs[0].Tickers[1].RowsWritten != 1 {
		t.Errorf("next run wrote %+v: want one new day each", sum.Jobs[0].Tickers)
	}

	// An explicit start date wins.
	src.asked = nil
	r.Run(context.Background(), []etl.Window{{Job: markets.Currency, Start: day(t, "2024-06-01"), End: day(t, "2024-06-30")}})
	if want := "DFF 2024-06-01..2024-06-30, NEW 2024-06-01..2024-06-30"; strings.Join(src.requests(), ", ") != want {
		t.Errorf("explicit window fetched %s", strings.Join(src.requests(), ", "))
	}
}

// TestRunSeveralSinks: the window starts from the oldest of the sinks'
// newest dates, so a lagging sink catches up; a series is ok only when every
// sink took it, and its newest date is the oldest over the sinks.
func TestRunSeveralSinks(t *testing.T) {
	end := day(t, "2025-01-10")
	setup := func() (*fakeSource, *fakeSink, *fakeSink, *etl.Runner) {
		src := newFakeSource()
		src.has("GDP", day(t, "2024-01-01"), end)
		ahead, behind := newFakeSink(), newFakeSink()
		ahead.holds("FRED/GDP", day(t, "2025-01-09"))
		behind.holds("FRED/GDP", day(t, "2024-12-01"))
		r := &etl.Runner{Catalog: catalog(t, markets.Economics, "GDP"), Sources: map[markets.Source]etl.Fetcher{markets.SourceFRED: src},
			Sinks: []etl.Sink{ahead, behind}}
		return src, ahead, behind, r
	}

	src, ahead, behind, r := setup()
	sum := r.Run(context.Background(), []etl.Window{{Job: markets.Economics, End: end}})
	if got := strings.Join(src.requests(), ", "); got != "GDP 2024-11-24..2025-01-10" {
		t.Errorf("fetched %s, want from the lagging sink's newest date minus 7 days", got)
	}
	if got := tickerLine(sum.Jobs[0].Tickers[0]); got != "GDP ok 2024-11-24..2025-01-10 newest 2025-01-10 fetched 48 written 96" {
		t.Errorf("GDP: %s", got)
	}
	if ahead.count("FRED/GDP") != 48 || behind.count("FRED/GDP") != 48 {
		t.Errorf("sinks hold %d and %d dates", ahead.count("FRED/GDP"), behind.count("FRED/GDP"))
	}

	_, ahead, behind, r = setup()
	behind.failWith = errBoom
	sum = r.Run(context.Background(), []etl.Window{{Job: markets.Economics, End: end}})
	ts := sum.Jobs[0].Tickers[0]
	if got := tickerLine(ts); got != "GDP failed 2024-11-24..2025-01-10 newest 2024-12-01 fetched 48 written 48 (sink)" || !strings.Contains(ts.Error, "boom") {
		t.Errorf("GDP with a failing sink: %s (%s)", got, ts.Error)
	}
	if ahead.count("FRED/GDP") != 48 {
		t.Errorf("the working sink holds %d dates: it should still take the rows", ahead.count("FRED/GDP"))
	}

	_, _, behind, r = setup()
	behind.newestErr = errBoom
	sum = r.Run(context.Background(), []etl.Window{{Job: markets.Economics, End: end}})
	if got := tickerLine(sum.Jobs[0].Tickers[0]); got != "GDP failed null..2025-01-10 newest null fetched 0 written 0 (sink)" {
		t.Errorf("GDP with a sink that cannot say what it holds: %s", got)
	}
}

// TestRunDeadline: a series cut by the deadline, and those not reached
// before it, end failed with reason deadline, and Run returns as soon as the
// one in progress stops, not after every series was tried.
func TestRunDeadline(t *testing.T) {
	src := newFakeSource()
	src.block = map[string]bool{"B": true} // a request that does not finish
	codes := []string{"A", "B", "C", "D", "E", "F"}
	for _, c := range codes {
		src.has(c, day(t, "2024-01-01"), day(t, "2025-01-10"))
	}
	r := &etl.Runner{Catalog: catalog(t, markets.Economics, codes...), Sources: map[markets.Source]etl.Fetcher{markets.SourceFRED: src},
		Sinks: []etl.Sink{newFakeSink()}, Concurrency: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	sum := r.Run(ctx, []etl.Window{{Job: markets.Economics, End: day(t, "2025-01-10")}})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %s after a 500ms deadline", took)
	}
	var got []string
	for _, ts := range sum.Jobs[0].Tickers {
		got = append(got, fmt.Sprintf("%s %s %s", ts.Ticker, ts.Status, ts.Reason))
	}
	want := "A ok , B failed deadline, C failed deadline, D failed deadline, E failed deadline, F failed deadline"
	if strings.Join(got, ", ") != want {
		t.Errorf("outcomes %s\nwant     %s", strings.Join(got, ", "), want)
	}
	if sum.Failed != 5 || !strings.Contains(sum.Err().Error(), "FRED/B: failed (deadline): fetch B: context deadline exceeded; FRED/C: failed (deadline): not reached: context deadline exceeded") {
		t.Errorf("summary %+v: %v", sum, sum.Err())
	}
	if a := sum.Jobs[0].Tickers[5].Action; !strings.Contains(a, "raise the function's timeout") {
		t.Errorf("action %q", a)
	}
}

// TestRunWithoutClientOrSink: a source without a client, or no sink at all,
// fails the series with a clear reason instead of panicking.
func TestRunWithoutClientOrSink(t *testing.T) {
	cat := catalog(t, markets.Economics, "GDP")
	for i, tc := range []struct {
		r    *etl.Runner
		want string
	}{
		{&etl.Runner{Catalog: cat, Sinks: []etl.Sink{newFakeSink()}}, `no client for source "fred" (is its API key set?)`},
		{&etl.Runner{Catalog: cat, Sources: map[markets.Source]etl.Fetcher{markets.SourceFRED: newFakeSource()}}, "no sink to store it in"},
	} {
		sum := tc.r.Run(context.Background(), []etl.Window{{Job: markets.Economics, End: day(t, "2025-01-10")}})
		if ts := sum.Jobs[0].Tickers[0]; ts.Status != etl.StatusFailed || ts.Error != tc.want {
			t.Errorf("%d: %+v, want failed: %s", i, ts, tc.want)
		}
	}
}
