package purchase

import (
	"context"
	"errors"
)

// Delivery is a valid event together with the id of the message that carried
// it (the SQS messageId). Exactly-once counting is keyed on MessageID.
type Delivery struct {
	MessageID string
	Event     Event
}

// CountResult says what became of each delivery given to Counter.Count.
// Every delivery not named in Duplicates or Failed was counted.
type CountResult struct {
	// Duplicates are the message ids an earlier delivery already counted;
	// they were not counted again (exactly-once mode only).
	Duplicates []string
	// Failed maps message ids that could not be counted to why. None of their
	// increments is applied, so they may be delivered again.
	Failed map[string]error
	// Datapoints is the number of distinct datapoint updates written.
	Datapoints int
	// Transactions is the number of TransactWriteItems calls that succeeded
	// (exactly-once mode) .
	Transactions int
	// Retries is the number of requests retried after a transient failure or
	// a transaction conflict.
	Retries int
}

// Counter adds valid events to the report counters.
type Counter interface {
	// Count adds one to each of the five datapoints of every delivery, with
	// one atomic ADD per distinct datapoint rather than one per event.
	// Transient failures are retried; what still fails is returned in
	// CountResult.Failed, never dropped silently. An error return means
	// nothing can succeed (e.g. the table does not exist); the caller should
	// treat every delivery as failed.
	Count(ctx context.Context, ds []Delivery) (CountResult, error)
}

// Count is one datapoint's value as the reporting UI shows it.
type Count struct {
	Datapoint string `json:"datapoint"`
	Events    int64  `json:"events"`
}

// ErrNotFound is returned by Reader.Get for a datapoint never counted.
var ErrNotFound = errors.New("datapoint not found")

// Reader reads report counts.
type Reader interface {
	// Get returns one datapoint's count. Returns ErrNotFound (wrapped) if the
	// datapoint has never been counted.
	Get(ctx context.Context, datapoint string) (Count, error)
	// List returns every datapoint of a report, sorted by datapoint. Daily
	// reports need day (YYYY-MM-DD) and list that UTC day only; all-time
	// reports need day "".
	List(ctx context.Context, r Report, day string) ([]Count, error)
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
