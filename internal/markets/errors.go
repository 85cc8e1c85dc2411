package markets

import "errors"

// Kinds of failure a source reports for a series (SPEC §6), for errors.Is.
// Neither is worth retrying: the catalog entry needs changing.
var (
	// ErrNotFound: the provider has no such series (HTTP 404, Quandl
	// QECx02, FRED "The series does not exist").
	ErrNotFound = errors.New("series not found")
	// ErrRetired: the provider no longer serves the series (HTTP 410 Gone).
	ErrRetired = errors.New("series retired")
)
