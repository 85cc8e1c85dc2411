package quandl

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/acmecheckout/reports/internal/markets"
)

// Kinds of failure, for errors.Is. An *Error matches the kind its HTTP status
// and Quandl code denote.
var (
	// ErrNotFound: the dataset or table code does not exist (HTTP 404,
	// QECx02). Such an *Error also matches markets.ErrNotFound.
	ErrNotFound = errors.New("quandl: dataset not found")
	// ErrUnauthorized: the API key was rejected or lacks access (HTTP 401/403, QEAx*, QEPx*).
	ErrUnauthorized = errors.New("quandl: API key rejected")
	// ErrRateLimited: too many requests, still so after the retries (HTTP 429, QELx*).
	ErrRateLimited = errors.New("quandl: rate limited")
	// ErrUnavailable: a server error, still so after the retries (HTTP 5xx).
	ErrUnavailable = errors.New("quandl: service unavailable")
	// ErrMalformed: a 200 answer that is not the data.json or datatable shape.
	ErrMalformed = errors.New("quandl: malformed response")
)

// Error is an error answer of the API: its HTTP status and, when the body was
// {"quandl_error":{"code":...,"message":...}}, the Quandl code and message.
type Error struct {
	Status  int
	Code    string
	Message string
}

// Error returns e.g. `quandl: HTTP 404 QECx02: You have submitted an incorrect Quandl code. ...`.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code == "" {
		return fmt.Sprintf("quandl: HTTP %d: %s", e.Status, msg)
	}
	return fmt.Sprintf("quandl: HTTP %d %s: %s", e.Status, e.Code, msg)
}

// Is reports whether e is of the kind target: ErrNotFound or
// markets.ErrNotFound, markets.ErrRetired (HTTP 410 Gone), ErrUnauthorized,
// ErrRateLimited or ErrUnavailable.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound, markets.ErrNotFound:
		return e.Status == http.StatusNotFound || e.Code == "QECx02"
	case markets.ErrRetired:
		return e.Status == http.StatusGone
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden ||
			strings.HasPrefix(e.Code, "QEAx") || strings.HasPrefix(e.Code, "QEPx")
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests || strings.HasPrefix(e.Code, "QELx")
	case ErrUnavailable:
		return e.Status >= 500
	}
	return false
}

// apiError reads an error answer; a body that is not a quandl_error keeps
// only the status. It is the webapi.ErrorFunc of the Client.
func apiError(status int, body []byte) error {
	e := &Error{Status: status}
	if code, msg, ok := decodeError(body); ok {
		e.Code, e.Message = code, msg
	}
	return e
}
