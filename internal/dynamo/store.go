// Package dynamo is the DynamoDB store behind the purchase reports (SPEC §3).
// It counts purchase deliveries into the datapoints table with atomic ADD
// updates, one per distinct datapoint, and reads the counts back.
//
// Two modes:
//
//   - Plain (the default): one UpdateItem per distinct datapoint of the whole
//     call. Deliveries whose datapoint still fails after retries are reported
//     failed, and the increments they contributed to other datapoints are
//     taken back. Plain mode is at-least-once: when DynamoDB applies a write
//     but its response is lost, the SDK's retry applies it again.
//   - Exactly-once (WithIdempotencyTable): one TransactWriteItems per chunk of
//     deliveries puts a marker per identity (conditional on its absence) and
//     the chunk's ADD updates, so a purchase delivered again is reported as a
//     duplicate instead of being counted twice. Under contention the
//     increments of hot datapoints go to per-writer parts, which folds move
//     into the main items (parts.go); readers sum main and parts.
//
// Table layout: datapoints table keyed by `datapoint` (S) with `events` (N),
// `report` (S) and `listKey` (S, `<report>|<day>` for daily reports,
// `<report>` otherwise), and a KEYS_ONLY index byListKey (listKey, datapoint)
// to list a report without a Scan; parts (`~part|<group>|<shard>`) carry
// `report`, `listKey`, `events` (the sum of their counts), one number per
// datapoint they count, named by the datapoint, and `partOf` (S, the group),
// the key of the sparse KEYS_ONLY index byPart (partOf, datapoint) that lists
// what is pending; idempotency
// table keyed by `id` (S) with TTL attribute `expiresAt` (N, epoch seconds).
package dynamo

import (
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/sync/errgroup"

	"github.com/acmecheckout/reports/internal/backoff"
	"github.com/acmecheckout/reports/internal/purchase"
)

// Attribute and index names of the tables (SPEC §3, template.yaml).
const (
	AttrDatapoint = "datapoint"
	AttrEvents    = "events"
	AttrReport    = "report"
	AttrListKey   = "listKey"
	IndexByList   = "byListKey"
	AttrID        = "id"
	AttrExpiresAt = "expiresAt"
)

// Defaults of the options.
const (
	// MarkerTTL keeps an identity's idempotency marker longer than SQS's
	// longest retention (14 days), so a redelivery always finds it.
	MarkerTTL = 15 * 24 * time.Hour
	// MaxTransactionItems is DynamoDB's limit of items per TransactWriteItems.
	MaxTransactionItems = 100
	// DefaultConcurrency bounds the requests one Add call has in flight.
	DefaultConcurrency = 8
	// DefaultMaxAttempts is how many times a request is tried, first try
	// included, before its deliveries are reported failed.
	DefaultMaxAttempts = 6
	// DefaultBackoffBase and DefaultBackoffMax shape the capped exponential
	// backoff with full jitter between attempts.
	DefaultBackoffBase = 50 * time.Millisecond
	DefaultBackoffMax  = 2 * time.Second
)

// Store counts and reads purchase report datapoints in DynamoDB. It
// implements purchase.Counter and purchase.Reader and is safe for concurrent
// use.
type Store struct {
	client      *dynamodb.Client
	table       string
	idempotency string
	log         *slog.Logger
	maxTxItems  int
	concurrency int
	maxAttempts int
	delays      backoff.Policy
	retryer     *retry.Standard
	parts       *parts // nil: WithoutParts
	hotFor      time.Duration
}

var (
	_ purchase.Counter = (*Store)(nil)
	_ purchase.Reader  = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithIdempotencyTable turns on exactly-once mode: each identity (a
// producer's idempotency key, else a message id) is counted at most once,
// with a marker in the named table.
func WithIdempotencyTable(name string) Option { return func(s *Store) { s.idempotency = name } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithMaxTransactionItems lowers the items per transaction below
// MaxTransactionItems, e.g. to force several chunks in tests. Values are
// clamped to [6, MaxTransactionItems]: one message needs up to six items.
func WithMaxTransactionItems(n int) Option {
	return func(s *Store) { s.maxTxItems = min(max(n, 6), MaxTransactionItems) }
}

// WithConcurrency bounds the requests one Add or List call has in flight
// (default DefaultConcurrency): plain-mode updates and reads. Exactly-once
// transactions run one at a time, since they share datapoints.
func WithConcurrency(n int) Option { return func(s *Store) { s.concurrency = max(n, 1) } }

// WithRetry sets how often a request is tried (first try included) and the
// capped exponential backoff with full jitter between tries (defaults
// DefaultMaxAttempts, DefaultBackoffBase, DefaultBackoffMax). It applies both
// to the SDK's retries of failed requests (throttling, 5xx, timeouts) and to
// the store's retries of cancelled transactions (conflicts, throttled items)
// and unprocessed keys: each failure is retried by one of the two, never both.
func WithRetry(maxAttempts int, base, maxDelay time.Duration) Option {
	return func(s *Store) {
		s.maxAttempts = max(maxAttempts, 1)
		s.delays = backoff.Policy{Base: base, Max: maxDelay}
	}
}

// New returns a Store over the datapoints table. The store applies its own
// retry policy (WithRetry) to every request it makes with c.
func New(c *dynamodb.Client, table string, opts ...Option) *Store {
	s := &Store{
		client:      c,
		table:       table,
		log:         slog.Default(),
		maxTxItems:  MaxTransactionItems,
		concurrency: DefaultConcurrency,
		maxAttempts: DefaultMaxAttempts,
		delays:      backoff.Policy{Base: DefaultBackoffBase, Max: DefaultBackoffMax},
		parts:       newParts(),
		hotFor:      DefaultHotFor,
	}
	for _, o := range opts {
		o(s)
	}
	s.retryer = retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = s.maxAttempts
		o.MaxBackoff = s.delays.Max
		// A single-item write of an item a transaction holds (a fold moving
		// a part) is worth retrying.
		o.Retryables = append(slices.Clone(o.Retryables), retry.RetryableErrorCode{
			Codes: map[string]struct{}{"TransactionConflictException": {}},
		})
		o.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
			return s.delays.Delay(attempt), nil
		})
	})
	return s
}

// withRetryer is the per-operation option that gives every request the
// store's retry policy.
func (s *Store) withRetryer(o *dynamodb.Options) { o.Retryer = s.retryer }

// sdkRetries returns how many times the SDK retried a successful request.
func sdkRetries(md middleware.Metadata) int {
	if r, ok := retry.GetAttemptResults(md); ok && len(r.Results) > 1 {
		return len(r.Results) - 1
	}
	return 0
}

// each runs fn(0) … fn(n-1) on at most limit goroutines and waits for all.
func each(n, limit int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	var g errgroup.Group
	g.SetLimit(limit)
	for i := range n {
		g.Go(func() error { fn(i); return nil })
	}
	_ = g.Wait() // fn reports its errors itself
}
