package purchase

import (
	"context"
	"errors"
)

// Delivery is a valid event together with the identity it is counted under:
// its producer's idempotency key when the message carried one, else the id of
// the message that carried it (SPEC §4). Exactly-once counting counts each
// identity at most once.
type Delivery struct {
	Identity string
	Event    Event
}

// AddResult says what became of each delivery given to Counter.Add. Every
// delivery not named in Duplicates or Failed was counted.
type AddResult struct {
	// Duplicates are the identities an earlier delivery already counted; they
	// were not counted again (exactly-once mode only).
	Duplicates []string
	// Failed maps identities that could not be counted to why. None of their
	// increments is applied, so they may be delivered again.
	Failed map[string]error
	// Datapoints is the number of distinct datapoint increments applied.
	Datapoints int
	// Transactions is the number of all-or-nothing writes that succeeded,
	// each applying the increments of several deliveries and recording their
	// identities (exactly-once mode).
	Transactions int
	// WriteUnits is the write capacity the store reports it consumed.
	WriteUnits float64
	// RequestRetries is the number of requests retried after a transient
	// failure: throttling, server errors, timeouts.
	RequestRetries int
	// ConflictRetries is the number of transactions retried because another
	// transaction was writing the same datapoints at the same time.
	ConflictRetries int
}

// Counter adds valid events to the report datapoints.
type Counter interface {
	// Add adds one to each of the five datapoints of every delivery, with one
	// atomic increment per distinct datapoint rather than one per event. The
	// identities of ds must be distinct; ds may be empty, which applies
	// nothing but lets the store settle pending work. Transient failures are
	// retried; what still fails is returned in AddResult.Failed, never dropped
	// silently. An error return means nothing can succeed (e.g. the table
	// does not exist); the caller should treat every delivery as failed.
	Add(ctx context.Context, ds []Delivery) (AddResult, error)
}

// Total is one datapoint's value as the reporting UI shows it.
type Total struct {
	Datapoint string `json:"datapoint"`
	Events    int64  `json:"events"`
}

// ErrNotFound is returned by Reader.Get for a datapoint never counted.
var ErrNotFound = errors.New("datapoint not found")

// Reader reads report totals.
type Reader interface {
	// Get returns one datapoint's total. Returns ErrNotFound (wrapped) if the
	// datapoint has never been counted.
	Get(ctx context.Context, datapoint string) (Total, error)
	// List returns every datapoint of a report, sorted by datapoint. Daily
	// reports need day (YYYY-MM-DD) and list that UTC day only; all-time
	// reports need day "".
	List(ctx context.Context, r Report, day string) ([]Total, error)
}

// Rejection is an invalid event on its way to the dead-letter queue, with
// what an operator needs to fix and send it back (SPEC §4).
type Rejection struct {
	// MessageID is the id of the message that carried the event.
	MessageID string
	// Identity is what the event is or would be counted under: its producer's
	// idempotency key, else MessageID. Sent back with it, the event is never
	// counted twice.
	Identity string
	// Body is the message body, unchanged.
	Body string
	// Reason says why the event was rejected.
	Reason string
	// Group is the message group on a FIFO queue, "" otherwise.
	Group string
}
