package markets

import (
	"fmt"
	"strings"
)

// Jobs returns the five jobs in their canonical order.
func Jobs() []Job { return []Job{Currency, Economics, Equities, InterestRates, RealEstate} }

// ParseJob returns the job named s, or an error naming the valid jobs.
func ParseJob(s string) (Job, error) {
	for _, j := range Jobs() {
		if string(j) == s {
			return j, nil
		}
	}
	names := make([]string, 0, len(Jobs()))
	for _, j := range Jobs() {
		names = append(names, string(j))
	}
	return "", fmt.Errorf("unknown job %q: want one of %s", s, strings.Join(names, ", "))
}

// DefaultWindowDays is how many days, ending at the run's end date, a run
// loads for a series never loaded before (SPEC §5): 90 for real estate
// (monthly values published late), 7 for the others.
func (j Job) DefaultWindowDays() int {
	if j == RealEstate {
		return 90
	}
	return 7
}

// DefaultStaleAfterDays is how many days a series of the job may go without
// a new observation before it is stale (SPEC §6): 120 for economics
// (quarterly figures), 70 for real estate (monthly, published late), 10 for
// the daily series of the others.
func (j Job) DefaultStaleAfterDays() int {
	switch j {
	case Economics:
		return 120
	case RealEstate:
		return 70
	}
	return 10
}

// RevisionDays is how far before its newest stored date an incremental load
// of a series starts, so that revised values are reloaded (SPEC §6).
const RevisionDays = 7

// Datasets returns the datasets the embedded default catalog (SPEC §5) loads
// for the job, in catalog order (none for an unknown job).
func (j Job) Datasets() []Dataset {
	c, err := DefaultCatalog()
	if err != nil { // the embedded catalog is valid: TestDefaultCatalog
		return nil
	}
	var out []Dataset
	for _, e := range c.Job(j) {
		out = append(out, e.Dataset)
	}
	return out
}
