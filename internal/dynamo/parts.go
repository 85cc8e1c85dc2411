package dynamo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
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
// "~part|<datapoint>|<shard>" (never a datapoint of SPEC §2). Each store has
// one random shard for all its parts and moves to another one when a part
// conflicts (another store has the same), so that concurrent writers spread
// over the shards. The datapoints that are hot together (a report with few
// datapoints, one merchant's) become hot together. A part is written in the
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
// Who folds: each store folds the parts it wrote at the end of a call when
// that is cheap (DefaultFoldAt events in a part, or no more to come), and an
// Add of no deliveries folds every pending part (the aggregator's one-minute
// schedule, `reports fold`).

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
	// DefaultFoldAt is how many events a store adds to one of its parts
	// before it folds it at the end of a call: a fold costs the same
	// whatever it moves, so it waits until it is cheap per event.
	DefaultFoldAt = 100
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

// parts is a store's own state of write sharding: its shard, its hot
// datapoints (until when) and the parts it wrote that may still hold counts,
// with what it added to each. Safe for concurrent use.
type parts struct {
	mu      sync.Mutex
	shard   int
	hot     map[string]time.Time
	pending map[string]int64 // part key → events this store added since it last folded it
	rng     *rand.Rand
}

func newParts() *parts {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) //nolint:gosec // shard choice, not security
	return &parts{
		shard:   rng.IntN(PartShards),
		hot:     map[string]time.Time{},
		pending: map[string]int64{},
		rng:     rng,
	}
}

// target returns the item a datapoint's increments go to now: its own key,
// or this store's part of it while it is hot.
func (p *parts) target(dp string, now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.hot[dp]
	if !ok {
		return dp
	}
	if now.After(until) {
		delete(p.hot, dp)
		return dp
	}
	return PartKey(dp, p.shard)
}

// contended records a conflict on the item the datapoint's increments went
// to: the datapoint becomes hot, or, if it already was (its part
// conflicted: another store has the same shard), this store moves to another
// shard, once per cancelled transaction (moved). It stays hot for hotFor.
func (p *parts) contended(dp string, now time.Time, hotFor time.Duration, moved *bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.hot[dp]; ok && !*moved {
		p.shard = (p.shard + 1 + p.rng.IntN(PartShards-1)) % PartShards
		*moved = true
	}
	p.hot[dp] = now.Add(hotFor)
}

// heat makes a datapoint hot until now+hotFor, if it is not already.
func (p *parts) heat(dp string, now time.Time, hotFor time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if until, ok := p.hot[dp]; !ok || until.Before(now) {
		p.hot[dp] = now.Add(hotFor)
	}
}

// wrote records what this store added to parts.
func (p *parts) wrote(added map[string]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, n := range added {
		p.pending[k] += n
	}
}

// due returns, and forgets, the parts this store wrote that are cheap to
// fold now: those it added at least foldAt events to (a fold costs the same
// whatever it moves), and those no more increments will come to (the
// datapoint cooled down, or this store moved to another shard).
func (p *parts) due(now time.Time, foldAt int64) map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := map[string]int64{}
	for k, n := range p.pending {
		dp, _ := mainOfPart(k)
		until, hot := p.hot[dp]
		if n >= foldAt || !hot || now.After(until) || k != PartKey(dp, p.shard) {
			keys[k] = n
			delete(p.pending, k)
		}
	}
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
	now := time.Now()
	hotGroups := map[string]bool{}
	moved, shardMoved := false, false
	for i, reason := range tce.CancellationReasons {
		if j := i - markers; j >= 0 && j < len(dps) && aws.ToString(reason.Code) == "TransactionConflict" {
			s.parts.contended(dps[j].Key, now, s.hotFor, &shardMoved)
			hotGroups[heatGroup(dps[j])] = true
			moved = true
		}
	}
	// Datapoints of the same group are as hot: moving them now saves a
	// conflict each.
	for _, dp := range dps {
		if hotGroups[heatGroup(dp)] {
			s.parts.heat(dp.Key, now, s.hotFor)
		}
	}
	return moved
}

// heatGroup names the datapoints that are hot together: those of a report
// with few datapoints at a time (all time, or the current hour), which every
// concurrent transaction has some of, or those of one merchant (a popular
// merchant is in every transaction).
func heatGroup(dp purchase.Datapoint) string {
	switch dp.Report {
	case purchase.DayMerchant:
		_, merchant, _ := strings.Cut(dp.Key, "|")
		return merchant
	case purchase.MerchantMethod:
		merchant, _, _ := strings.Cut(dp.Key, "|")
		return merchant
	}
	return string(dp.Report)
}

// foldOwn folds the parts this store wrote that are cheap to fold now (see
// parts.due), at the end of a call.
func (s *Store) foldOwn(ctx context.Context) FoldResult {
	if s.parts == nil {
		return FoldResult{}
	}
	due := s.parts.due(time.Now(), s.foldAt)
	if len(due) == 0 {
		return FoldResult{}
	}
	// One try each: a fold that meets a conflict is not worth waiting for
	// here; the part stays pending for this store's next call or the
	// schedule.
	res, left := s.foldParts(ctx, slices.Sorted(maps.Keys(due)), 1)
	again := make(map[string]int64, len(left))
	for _, k := range left {
		again[k] = due[k]
	}
	s.parts.wrote(again)
	return res
}

// WithoutParts turns write sharding off: exactly-once transactions always
// write the main items and retry their conflicts with backoff, as before
// issue 14 (for comparison in benchmarks).
func WithoutParts() Option { return func(s *Store) { s.parts = nil } }

// WithFoldAt sets how many events a store adds to one of its parts before
// it folds it at the end of a call (default DefaultFoldAt; 1 folds every part
// at the end of the call that wrote it).
func WithFoldAt(n int64) Option { return func(s *Store) { s.foldAt = max(n, 1) } }
