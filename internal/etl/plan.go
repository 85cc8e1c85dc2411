package etl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/acmecheckout/reports/internal/markets"
)

// ErrInvalidInput is matched (errors.Is) by every error Plan returns.
var ErrInvalidInput = errors.New("invalid input")

// Input is what a run is asked to do: the Lambda function's event,
// {"jobs": ["currency"], "startDate": "2017-12-01", "endDate": "2017-12-07"}.
// Every field is optional.
type Input struct {
	// Jobs to run; empty means all, in their canonical order.
	Jobs []string `json:"jobs,omitempty"`
	// StartDate and EndDate bound the window, YYYY-MM-DD, both inclusive.
	// EndDate defaults to today (UTC); StartDate to the job's default
	// window (7 days, real estate 90) ending at EndDate.
	StartDate string `json:"startDate,omitempty"`
	EndDate   string `json:"endDate,omitempty"`
}

// DecodeInput decodes a Lambda event into an Input, strictly: an unknown
// field (a misspelt "job", say) or anything after the object is an error
// matching ErrInvalidInput, rather than a run of the defaults. An empty
// event, {} and null mean the defaults.
func DecodeInput(event []byte) (Input, error) {
	var in Input
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.DisallowUnknownFields()
	err := dec.Decode(&in)
	if errors.Is(err, io.EOF) {
		return Input{}, nil
	}
	if err == nil {
		if _, err = dec.Token(); errors.Is(err, io.EOF) {
			return in, nil
		}
		err = errors.New("unexpected data after the JSON object")
	}
	return Input{}, fmt.Errorf("%w: want {\"jobs\": [...], \"startDate\": \"YYYY-MM-DD\", \"endDate\": \"YYYY-MM-DD\"}: %v", ErrInvalidInput, err)
}

// Window is one job over the dates it loads, Start to End inclusive.
type Window struct {
	Job        markets.Job
	Start, End markets.Date
}

// Plan validates in and returns the window of each job it names, in the
// order given (duplicates dropped). today is the current UTC date. Errors
// (unknown job, malformed date, start after end) match ErrInvalidInput.
func Plan(in Input, today markets.Date) ([]Window, error) {
	jobs := markets.Jobs()
	if len(in.Jobs) > 0 {
		jobs = nil
		for _, name := range in.Jobs {
			j, err := markets.ParseJob(name)
			if err != nil {
				return nil, fmt.Errorf("%w: jobs: %v", ErrInvalidInput, err)
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
			return nil, fmt.Errorf("%w: endDate: %v", ErrInvalidInput, err)
		}
		end = d
	}
	var start *markets.Date
	if in.StartDate != "" {
		d, err := markets.ParseDate(in.StartDate)
		if err != nil {
			return nil, fmt.Errorf("%w: startDate: %v", ErrInvalidInput, err)
		}
		if end.Before(d) {
			return nil, fmt.Errorf("%w: startDate %s is after endDate %s", ErrInvalidInput, d, end)
		}
		start = &d
	}
	out := make([]Window, 0, len(jobs))
	for _, j := range jobs {
		w := Window{Job: j, Start: end.AddDays(1 - j.DefaultWindowDays()), End: end}
		if start != nil {
			w.Start = *start
		}
		out = append(out, w)
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
