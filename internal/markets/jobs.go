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

// DefaultWindowDays is how many days, ending today, a run of the job loads
// when no dates are given: 90 for real estate (monthly values published
// late), 7 for the others.
func (j Job) DefaultWindowDays() int {
	if j == RealEstate {
		return 90
	}
	return 7
}

// Datasets returns the datasets the job loads (none for an unknown job).
func (j Job) Datasets() []Dataset {
	var out []Dataset
	for _, d := range Catalog() {
		if d.Job == j {
			out = append(out, d)
		}
	}
	return out
}

// Catalog returns every dataset of every job (SPEC §5), grouped by job in
// the order of Jobs. It is the one place the jobs are defined.
func Catalog() []Dataset {
	return []Dataset{
		{Currency, "CURRFX", "EURUSD", "Euro vs. US dollar exchange rate, daily"},
		{Currency, "CURRFX", "GBPUSD", "British pound vs. US dollar exchange rate, daily"},

		{Economics, "FRED", "GDP", "US gross domestic product, billions of dollars, quarterly, seasonally adjusted annual rate"},
		{Economics, "FRED", "M1", "US M1 money stock, billions of dollars"},
		{Economics, "FRED", "DFF", "Effective federal funds rate, percent, daily"},
		{Economics, "FRED", "UNRATE", "US civilian unemployment rate, percent, monthly, seasonally adjusted"},

		{Equities, "WIKI", "FB", "Facebook Inc. (FB) prices, dividends, splits and trading volume"},
		{Equities, "WIKI", "AMZN", "Amazon.com Inc. (AMZN) prices, dividends, splits and trading volume"},
		{Equities, "WIKI", "GOOG", "Alphabet Inc. (GOOG) prices, dividends, splits and trading volume"},
		{Equities, "WIKI", "NVDA", "Nvidia Corp. (NVDA) prices, dividends, splits and trading volume"},

		{InterestRates, "FED", "RIFSPFF_N_D", "Federal funds effective rate, business day"},
		{InterestRates, "USTREASURY", "YIELD", "US Treasury par yield curve rates"},
		{InterestRates, "USTREASURY", "LONGTERMRATES", "US Treasury long-term rates"},

		{RealEstate, "ZILLOW", "Z94108_ZHVIAH", "Zillow home value index, all homes, ZIP 94108 (San Francisco)"},
	}
}
