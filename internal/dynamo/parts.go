package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acmecheckout/reports/internal/purchase"
)

// Parts: write sharding of hot datapoints in exactly-once mode (SPEC §3).
//
// DynamoDB cancels a transaction that touches an item another transaction in
// flight holds (TransactionConflict). Every exactly-once transaction holds
// some all-time or current-hour datapoint, so concurrent invocations would
// cancel one another and go no faster than one. Instead, when a transaction is
// cancelled for a conflict on some datapoints, the store marks them hot for
// HotFor and writes their increments, from then on, into a part item of its
// own: one of PartShards items per datapoint, keyed
// "~part|<datapoint>|<shard>" (never a datapoint of SPEC §2). Each store picks
// a random shard per hot datapoint and another one when its part conflicts,
// so that concurrent writers spread over the shards. A part is written in the
// same transaction as its messages' markers: exactly once as before.
//
// A fold moves a part into its main item: it reads the part's count n, then
// in one transaction adds n to the main item and deletes the part on
// condition that it still holds n. A writer that added to the part in between
// makes the condition fail and nothing happens; the fold reads again. So the
// sum of a main item and its parts is the exact count at every moment, which
// is what readers answer (one TransactGetItems over the main item and its
// PartShards parts). Parts carry `partOf` (the main datapoint), indexed by the
// sparse index byPart, to find what is pending, and `listKey`, so that a
// report lists a datapoint whose count sits only in parts.
//
// Who folds: each store folds the parts it wrote at the end of a call at most
// every FoldEvery, and an Add of no deliveries folds every pending part (the
// aggregator's one-minute schedule, `reports fold`).

// Part layout and timing.
const (
	// PartShards is how many part items a datapoint may have: enough for 16
	// concurrent writers of one hot datapoint each to have its own.
	PartShards = 16
	// AttrPartOf names a part's main datapoint; IndexByPart is the sparse
	// index on it (KEYS_ONLY), which lists the pending parts.
	AttrPartOf  = "partOf"
	IndexByPart = "byPart"
	// DefaultHotFor is how long a datapoint stays hot for a store after a
	// conflict on it.
	DefaultHotFor = time.Minute
	// DefaultFoldEvery is how often a store folds its own parts at the end
	// of a call.
	DefaultFoldEvery = 20 * time.Second
	// partPrefix starts every part's key; no datapoint of SPEC §2 starts
	// with "~".
	partPrefix = "~part|"
)

// PartKey returns the key of shard shard of the datapoint's parts.
func PartKey(datapoint string, shard int) string {
	return partPrefix + datapoint + "|" + fmt.Sprintf("%02d", shard)
}

// mainOfPart returns the main datapoint of a part key, or false when key is
// not a part's.
func mainOfPart(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, partPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '|')
	if i < 0 {
		return "", false
	}
	if _, err := strconv.Atoi(rest[i+1:]); err != nil {
		return "", false
	}
	return rest[:i], true
}

// hotSpot is one hot datapoint of a store: until when, and its shard.
type hotSpot struct {
	until time.Time
	shard int
}

// parts is a store's own state of write sharding: its hot datapoints and the
// parts it wrote that may still hold counts. Safe for concurrent use.
type parts struct {
	mu       sync.Mutex
	hot      map[string]hotSpot
	pending  map[string]bool // part keys this store wrote since it last folded them
	lastFold time.Time
	rng      *rand.Rand
}

func newParts() *parts {
	return &parts{
		hot:     map[string]hotSpot{},
		pending: map[string]bool{},
		rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), //nolint:gosec // shard choice, not security
	}
}

// target returns the item a datapoint's increments go to now: its own key,
// or this store's part of it while it is hot.
func (p *parts) target(dp string, now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.hot[dp]
	if !ok {
		return dp
	}
	if now.After(h.until) {
		delete(p.hot, dp)
		return dp
	}
	return PartKey(dp, h.shard)
}

// contended records a conflict on the item the datapoint's increments went
// to: the datapoint becomes hot (a random shard), or, if it already was,
// moves to another shard. It stays hot for hotFor.
func (p *parts) contended(dp string, now time.Time, hotFor time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.hot[dp]
	if ok {
		h.shard = (h.shard + 1 + p.rng.IntN(PartShards-1)) % PartShards
	} else {
		h.shard = p.rng.IntN(PartShards)
	}
	h.until = now.Add(hotFor)
	p.hot[dp] = h
}

// wrote records parts this store wrote.
func (p *parts) wrote(keys []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		p.pending[k] = true
	}
}

// due returns the parts this store wrote when it last folded them more than
// every ago, and forgets them; none otherwise.
func (p *parts) due(now time.Time, every time.Duration) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 || now.Sub(p.lastFold) < every {
		return nil
	}
	p.lastFold = now
	keys := make([]string, 0, len(p.pending))
	for k := range p.pending {
		keys = append(keys, k)
	}
	clear(p.pending)
	return keys
}

// partUpdate is the ADD of n into a datapoint's part: as addExpression, plus
// partOf, which puts the part in the byPart index.
func partUpdate(table string, dp purchase.Datapoint, key string, n int64) *types.Update {
	values := addValues(dp, n)
	values[":p"] = &types.AttributeValueMemberS{Value: dp.Key}
	names := addNames()
	names["#partOf"] = AttrPartOf
	return &types.Update{
		TableName:                 aws.String(table),
		Key:                       datapointKey(key),
		UpdateExpression:          aws.String(addExpression + ", #partOf = :p"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// maxMoves bounds how often one transaction moves contended datapoints to
// other items before its conflicts are retried with backoff like any other.
const maxMoves = 2 * PartShards

// datapointUpdate is the ADD of n to a datapoint in an exactly-once
// transaction: into its main item, or, while it is hot for this store, into
// this store's part of it, whose key it then returns.
func (s *Store) datapointUpdate(dp purchase.Datapoint, n int64) (*types.Update, string) {
	if s.parts != nil {
		if key := s.parts.target(dp.Key, time.Now()); key != dp.Key {
			return partUpdate(s.table, dp, key, n), key
		}
	}
	return &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       datapointKey(dp.Key),
		UpdateExpression:          aws.String(addExpression),
		ExpressionAttributeNames:  addNames(),
		ExpressionAttributeValues: addValues(dp, n),
	}, ""
}

// moveContended reads a transaction's cancellation: each datapoint update
// (after the markers) cancelled for a TransactionConflict becomes hot, or
// moves to another part. It reports whether any did.
func (s *Store) moveContended(err error, dps []purchase.Datapoint, markers int) bool {
	var tce *types.TransactionCanceledException
	if s.parts == nil || !errors.As(err, &tce) {
		return false
	}
	moved := false
	for i, reason := range tce.CancellationReasons {
		if j := i - markers; j >= 0 && j < len(dps) && aws.ToString(reason.Code) == "TransactionConflict" {
			s.parts.contended(dps[j].Key, time.Now(), s.hotFor)
			moved = true
		}
	}
	return moved
}

// foldOwn folds the parts this store wrote, at most every s.foldEvery: the
// end of a call, when it is cheap.
func (s *Store) foldOwn(ctx context.Context) FoldResult {
	if s.parts == nil {
		return FoldResult{}
	}
	keys := s.parts.due(time.Now(), s.foldEvery)
	if len(keys) == 0 {
		return FoldResult{}
	}
	return s.foldParts(ctx, keys)
}

// WithoutParts turns write sharding off: exactly-once transactions always
// write the main items and retry their conflicts with backoff, as before
// issue 14 (for comparison in benchmarks).
func WithoutParts() Option { return func(s *Store) { s.parts = nil } }

// WithHotFor sets how long a datapoint stays hot for a store after a
// conflict on it (default DefaultHotFor).
func WithHotFor(d time.Duration) Option { return func(s *Store) { s.hotFor = d } }

// WithFoldEvery sets how often a store folds its own parts at the end of a
// call (default DefaultFoldEvery; 0 folds at the end of every call that
// wrote parts).
func WithFoldEvery(d time.Duration) Option { return func(s *Store) { s.foldEvery = d } }
