package etl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/acmecheckout/reports/internal/markets"
)

// Status is how a series ended (SPEC §6).
type Status string

// The statuses of a series.
const (
	// StatusOK: loaded, with an observation recent enough.
	StatusOK Status = "ok"
	// StatusStale: loaded, but its newest observation is older than the
	// entry's staleAfterDays allow. Reported and logged at WARN; the run
	// does not fail for it.
	StatusStale Status = "stale"
	// StatusFailed: not (fully) loaded; Reason says why.
	StatusFailed Status = "failed"
	// StatusRetired: the provider answered HTTP 410 Gone. Never retried.
	StatusRetired Status = "retired"
	// StatusNotFound: the provider has no such series (HTTP 404, Quandl
	// QECx02, FRED "does not exist"). Never retried.
	StatusNotFound Status = "not_found"
)

// Fails reports whether a series that ended with s fails the run.
func (s Status) Fails() bool { return s == StatusFailed || s == StatusRetired || s == StatusNotFound }

// Reason is why a series failed.
type Reason string

// The reasons a series fails.
const (
	// ReasonSource: the provider's answer was an error (after the
	// retries), or there is no client for the entry's source.
	ReasonSource Reason = "source"
	// ReasonInvalid: the answer does not fit the job's table.
	ReasonInvalid Reason = "invalid"
	// ReasonSink: a sink did not take the rows (or could not say what it
	// holds).
	ReasonSink Reason = "sink"
	// ReasonDeadline: the invocation's deadline came first: the series was
	// not reached, or no request could finish in the time left.
	ReasonDeadline Reason = "deadline"
	// ReasonCanceled: the run was stopped (SIGTERM, interrupt).
	ReasonCanceled Reason = "canceled"
)

// reasonOf returns the reason of err, given the stage that returned it:
// the context's deadline and cancellation win over the stage.
func reasonOf(stage Reason, err error) Reason {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonDeadline
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	}
	return stage
}

// Summary is the outcome of a run, the Lambda function's answer (SPEC §5, §6).
type Summary struct {
	// OK is true when no series failed, was retired or was not found.
	OK bool `json:"ok"`
	// RowsWritten counts table rows inserted or changed, over all jobs.
	RowsWritten int `json:"rowsWritten"`
	// Failed, Retired, NotFound and Stale count the series that ended so.
	Failed   int          `json:"failed"`
	Retired  int          `json:"retired"`
	NotFound int          `json:"notFound"`
	Stale    int          `json:"stale"`
	Jobs     []JobSummary `json:"jobs"`
}

// JobSummary is one job's outcome: its series and their totals. StartDate
// is the earliest of its series' first dates (null when none started).
type JobSummary struct {
	Job         markets.Job     `json:"job"`
	StartDate   *markets.Date   `json:"startDate"`
	EndDate     markets.Date    `json:"endDate"`
	RowsFetched int             `json:"rowsFetched"`
	RowsWritten int             `json:"rowsWritten"`
	Failed      int             `json:"failed"`
	Retired     int             `json:"retired"`
	NotFound    int             `json:"notFound"`
	Stale       int             `json:"stale"`
	Tickers     []TickerSummary `json:"tickers"`
}

// TickerSummary is one series' outcome. StartDate and EndDate are its own
// window (StartDate null when it was not reached); NewestDate its newest
// observation stored after the run (the oldest such date over the sinks;
// null when a sink holds none, or when it was not reached). RowsFetched
// counts the dates the source answered; RowsWritten the table rows inserted
// or changed, summed over the sinks (dw.interest_rates holds one row per
// date and column; unchanged rows are not counted, so a re-run writes 0).
// Error says what went wrong, Reason why a failed series failed, Action
// what the operator should do about a series that is not ok.
type TickerSummary struct {
	Dataset     string         `json:"dataset"`
	Ticker      string         `json:"ticker"`
	Source      markets.Source `json:"source"`
	Code        string         `json:"code"`
	Status      Status         `json:"status"`
	StartDate   *markets.Date  `json:"startDate"`
	EndDate     markets.Date   `json:"endDate"`
	NewestDate  *markets.Date  `json:"newestDate"`
	RowsFetched int            `json:"rowsFetched"`
	RowsWritten int            `json:"rowsWritten"`
	Reason      Reason         `json:"reason,omitempty"`
	Error       string         `json:"error,omitempty"`
	Action      string         `json:"action,omitempty"`
}

// Name returns DATASET/TICKER.
func (t TickerSummary) Name() string { return t.Dataset + "/" + t.Ticker }

// tally fills in the totals from the tickers.
func (s *Summary) tally() {
	*s = Summary{Jobs: s.Jobs}
	for i := range s.Jobs {
		j := &s.Jobs[i]
		*j = JobSummary{Job: j.Job, EndDate: j.EndDate, Tickers: j.Tickers}
		for _, t := range j.Tickers {
			j.RowsFetched += t.RowsFetched
			j.RowsWritten += t.RowsWritten
			if t.StartDate != nil && (j.StartDate == nil || t.StartDate.Before(*j.StartDate)) {
				j.StartDate = t.StartDate
			}
			switch t.Status {
			case StatusFailed:
				j.Failed++
			case StatusRetired:
				j.Retired++
			case StatusNotFound:
				j.NotFound++
			case StatusStale:
				j.Stale++
			}
		}
		s.RowsWritten += j.RowsWritten
		s.Failed += j.Failed
		s.Retired += j.Retired
		s.NotFound += j.NotFound
		s.Stale += j.Stale
	}
	s.OK = s.Failed+s.Retired+s.NotFound == 0
}

// Limits on Summary.Err's text, so that it stays readable as the Lambda
// invocation's errorMessage: each reason is cut to maxReason bytes, and
// reasons past maxReasons bytes in all are only counted.
const (
	maxReason  = 200
	maxReasons = 2000
)

// Err returns nil when no series failed, was retired or was not found, and
// otherwise an error naming each such series with its status and error,
// e.g. "markets etl: 2 of 14 series did not load (1 failed, 1 not_found):
// WIKI/FB: not_found: ...; FRED/GDP: failed (deadline): ...". The full
// errors and what to do are in the Summary.
func (s Summary) Err() error {
	if s.OK {
		return nil
	}
	var b strings.Builder
	total, bad, left := 0, 0, 0
	for _, j := range s.Jobs {
		total += len(j.Tickers)
		for _, t := range j.Tickers {
			if !t.Status.Fails() {
				continue
			}
			bad++
			status := string(t.Status)
			if t.Reason != "" {
				status += " (" + string(t.Reason) + ")"
			}
			reason := t.Name() + ": " + status + ": " + truncate(t.Error, maxReason)
			if b.Len() > 0 {
				if b.Len()+len("; ")+len(reason) > maxReasons {
					left++
					continue
				}
				b.WriteString("; ")
			}
			b.WriteString(reason)
		}
	}
	if left > 0 {
		fmt.Fprintf(&b, "; and %d more", left)
	}
	var counts []string
	for _, c := range []struct {
		n    int
		what Status
	}{{s.Failed, StatusFailed}, {s.Retired, StatusRetired}, {s.NotFound, StatusNotFound}} {
		if c.n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return fmt.Errorf("markets etl: %d of %d series did not load (%s): %s", bad, total, strings.Join(counts, ", "), b.String())
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "..."
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// action returns what the operator should do about a series that ended as t
// says, for an entry that goes stale after staleAfter days; "" when ok.
func action(t TickerSummary, staleAfter int) string {
	switch t.Status {
	case StatusRetired:
		return fmt.Sprintf("The provider retired %s %s (HTTP 410) and will not serve it again: replace this catalog entry with a maintained series (catalogs/maintained.json has some) or remove it. It is not retried.", t.Source, t.Code)
	case StatusNotFound:
		return fmt.Sprintf("The provider has no series %s %s: check the entry's code (and filters) in the catalog, or remove the entry. It is not retried.", t.Source, t.Code)
	case StatusStale:
		newest := "no observation is stored"
		if t.NewestDate != nil {
			newest = "the newest observation is " + t.NewestDate.String()
		}
		return fmt.Sprintf("%s, more than %d days before %s: check that the provider still updates %s %s (a retired series may answer without new data); raise the entry's staleAfterDays if it publishes less often.", newest, staleAfter, t.EndDate, t.Source, t.Code)
	case StatusFailed:
		switch t.Reason {
		case ReasonDeadline:
			return "The invocation's deadline came before this series loaded: raise the function's timeout or run fewer jobs per invocation; the next run's incremental window catches up."
		case ReasonCanceled:
			return "The run was stopped before this series loaded; the next run's incremental window catches up."
		case ReasonInvalid:
			return "The answer does not fit the job's table (see error): map its columns with the entry's columns and constants, or narrow it with filters."
		case ReasonSink:
			return "Storing the rows failed (see error): check the warehouse or lake; rows already stored stay, and the next run's incremental window catches up."
		}
		return "The provider's answer was an error (see error), still so after the retries: if it is the API key or a missing subscription, fix that; otherwise the next run's incremental window catches up."
	}
	return ""
}
