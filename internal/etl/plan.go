package etl

import (
	"fmt"
	"slices"

	"github.com/acmecheckout/reports/internal/markets"
)

// Window is one job over the dates it loads, Start to End inclusive.
type Window struct {
	Job markets.Job
	// Start is the first date; the zero Date means that each series starts
	// from its own newest stored date (see SeriesStart).
	Start markets.Date
	End   markets.Date
}

// Incremental reports whether each series of w starts from its newest stored
// date rather than from w.Start.
func (w Window) Incremental() bool { return w.Start == markets.Date{} }

// SeriesStart returns the first date a series of w loads (SPEC §6): w.Start
// when given; otherwise its newest stored date minus markets.RevisionDays
// (so that revisions are reloaded and a gap of any length closes), or, for a
// series never loaded (stored is false) or whose newest date minus the
// revision days is after w.End, the job's default window ending at w.End.
func (w Window) SeriesStart(newest markets.Date, stored bool) markets.Date {
	if !w.Incremental() {
		return w.Start
	}
	first := w.End.AddDays(1 - w.Job.DefaultWindowDays())
	if !stored {
		return first
	}
	if s := newest.AddDays(-markets.RevisionDays); !w.End.Before(s) {
		return s
	}
	return first
}

// String returns e.g. "currency 2017-12-01..2017-12-07" or
// "currency incremental..2017-12-07".
func (w Window) String() string {
	start := "incremental"
	if !w.Incremental() {
		start = w.Start.String()
	}
	return fmt.Sprintf("%s %s..%s", w.Job, start, w.End)
}

// Plan validates in and returns the window of each job it names, in the
// order given (duplicates dropped): from StartDate, or incremental without
// it, to EndDate or today, the current UTC date. Errors (unknown job,
// malformed date, start after end) match ErrInvalidInput.
func Plan(in Input, today markets.Date) ([]Window, error) {
	jobs := markets.Jobs()
	if len(in.Jobs) > 0 {
		jobs = nil
		for _, name := range in.Jobs {
			j, err := markets.ParseJob(name)
			if err != nil {
				return nil, fmt.Errorf("%w: jobs: %w", ErrInvalidInput, err)
			}
			if !slices.Contains(jobs, j) {
				jobs = append(jobs, j)
			}
		}
	}
	end := today
	if in.EndDate != "" {
		d, err := markets.ParseDate(in.EndDate)
		if err != nil {
			return nil, fmt.Errorf("%w: endDate: %w", ErrInvalidInput, err)
		}
		end = d
	}
	var start markets.Date
	if in.StartDate != "" {
		d, err := markets.ParseDate(in.StartDate)
		if err != nil {
			return nil, fmt.Errorf("%w: startDate: %w", ErrInvalidInput, err)
		}
		if end.Before(d) {
			return nil, fmt.Errorf("%w: startDate %s is after endDate %s", ErrInvalidInput, d, end)
		}
		start = d
	}
	out := make([]Window, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, Window{Job: j, Start: start, End: end})
	}
	return out, nil
}

// chunks splits [start, end] into consecutive windows of at most days days.
func chunks(start, end markets.Date, days int) [][2]markets.Date {
	var out [][2]markets.Date
	for s := start; !end.Before(s); s = s.AddDays(days) {
		e := s.AddDays(days - 1)
		if end.Before(e) {
			e = end
		}
		out = append(out, [2]markets.Date{s, e})
	}
	return out
}
