package dynamo

import (
	"errors"
	"fmt"
	"maps"
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
// cancelled for a conflict on a datapoint, the store marks the datapoint's
// part group hot for HotFor and writes the group's increments, from then on,
// into a part item of its own: one of PartShards items per group, keyed
// "~part|<group>|<shard>" (never a datapoint of SPEC §2). A group is a few
// datapoints that are hot together and share one item (see PartGroup): an
// hour's brackets, the fifteen all-time bracket-and-method datapoints, one
// merchant's methods. A part holds one number attribute per datapoint it
// counts, named by the datapoint (every datapoint key has a "|", no other
// attribute name has), and `events`, the sum of them, which grows with every
// write. So a transaction writes one item per hot group instead of one per
// datapoint, and a fold deletes one item per writer and group. Each store has
// one random shard for all its parts and moves to another one when a part
// conflicts (another store has the same), so that concurrent writers spread
// over the shards. A part is written in the same transaction as its
// messages' markers: exactly once as before.
//
// A fold moves a group's parts into their main items: it reads the parts,
// then in one transaction adds each datapoint's sum to its main item and
// deletes each part on condition that its `events` is still what was read.
// A writer that added to a part in between makes the condition fail and
// nothing happens; the fold reads again. So the sum of a main item and its
// parts is the exact count at every moment, which is what readers answer
// (one TransactGetItems over the main items and their group's parts). Parts
// carry `partOf` (the group), indexed by the sparse index byPart, to find
// what is pending, and the `listKey` of their datapoints, so that a report
// lists a datapoint whose count sits only in parts.
//
// Who folds: an Add of no deliveries folds every pending part (the
// aggregator's one-minute schedule), and so does `reports fold`. Writers do
// not fold their own parts: a fold writes a group's main items once for all
// its parts, so one fold of every writer's parts costs less than each writer
// folding its own, and a fold holds main items that writers not (yet) hot
// on them write to.

// Part layout and timing.
const (
	// PartShards is how many part items a group may have: enough for 16
	// concurrent writers of one hot group each to have its own.
	PartShards = 16
	// AttrPartOf names a part's group; IndexByPart is the sparse index on it
	// (KEYS_ONLY), which lists the pending parts.
	AttrPartOf  = "partOf"
	IndexByPart = "byPart"
	// DefaultHotFor is how long a group stays hot for a store after a
	// conflict on it.
	DefaultHotFor = time.Minute
	// partPrefix starts every part's key; no datapoint of SPEC §2 starts
	// with "~".
	partPrefix = "~part|"
)

// PartGroup returns the part group of a datapoint: the datapoints whose
// increments share a part item while they are hot. A group is one report's,
// and all its datapoints share a listKey: an hour of hour-bracket (5
// datapoints) or of hour-bracket-method (15), bracket-method (15), one
// merchant's merchant-method (3), a day-merchant datapoint alone. So a part
// item stays under 1 KB, one write unit.
func PartGroup(dp purchase.Datapoint) string {
	switch dp.Report {
	case purchase.HourBracket, purchase.HourBracketMethod:
		hour, _, _ := strings.Cut(dp.Key, "|")
		return string(dp.Report) + "|" + hour
	case purchase.MerchantMethod:
		merchant, _, _ := strings.Cut(dp.Key, "|")
		return string(dp.Report) + "|" + merchant
	case purchase.BracketMethod:
		return string(dp.Report)
	}
	return string(dp.Report) + "|" + dp.Key
}

// groupMembers returns every datapoint a part group may count (the group of
// each is group), or nil if group is not one PartGroup returns.
func groupMembers(group string) []string {
	report, scope, _ := strings.Cut(group, "|")
	brackets, methods := purchase.Brackets(), purchase.Methods()
	var members []string
	switch purchase.Report(report) {
	case purchase.HourBracket:
		for _, b := range brackets {
			members = append(members, scope+"|"+b)
		}
	case purchase.HourBracketMethod:
		for _, b := range brackets {
			for _, m := range methods {
				members = append(members, scope+"|"+b+"|"+string(m))
			}
		}
	case purchase.BracketMethod:
		for _, b := range brackets {
			for _, m := range methods {
				members = append(members, b+"|"+string(m))
			}
		}
	case purchase.MerchantMethod:
		for _, m := range methods {
			members = append(members, scope+"|"+string(m))
		}
	case purchase.DayMerchant:
		members = []string{scope}
	}
	for _, k := range members {
		dp, err := purchase.ParseDatapoint(k)
		if err != nil || PartGroup(dp) != group {
			return nil
		}
	}
	return members
}

// PartKey returns the key of shard shard of a part group's parts.
func PartKey(group string, shard int) string {
	return partPrefix + group + "|" + fmt.Sprintf("%02d", shard)
}

// groupOfPart returns the group of a part key, or false when key is not a
// part's.
func groupOfPart(key string) (string, bool) {
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

// partCounts returns what a part item counts, by datapoint: its attributes
// named by a datapoint. A part written before parts were grouped holds one
// datapoint's count in `events` and names it in `partOf`.
func partCounts(item map[string]types.AttributeValue) (map[string]int64, error) {
	counts := map[string]int64{}
	for name, v := range item {
		if !strings.Contains(name, "|") {
			continue
		}
		n, err := numberOf(v)
		if err != nil {
			return nil, fmt.Errorf("part count %s: %w", name, err)
		}
		counts[name] = n
	}
	if len(counts) == 0 {
		if of, ok := item[AttrPartOf].(*types.AttributeValueMemberS); ok {
			if _, err := purchase.ParseDatapoint(of.Value); err == nil {
				n, err := numberOf(item[AttrEvents])
				if err != nil {
					return nil, fmt.Errorf("part %s: %w", AttrEvents, err)
				}
				counts[of.Value] = n
			}
		}
	}
	return counts, nil
}

// parts is a store's own state of write sharding: its shard and its hot
// groups (until when). Safe for concurrent use.
type parts struct {
	mu    sync.Mutex
	shard int
	hot   map[string]time.Time // group → hot until
	rng   *rand.Rand
}

func newParts() *parts {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) //nolint:gosec // shard choice, not security
	return &parts{shard: rng.IntN(PartShards), hot: map[string]time.Time{}, rng: rng}
}

// target returns the part a datapoint's increments go to now, while its
// group is hot for this store, or "" for its main item.
func (p *parts) target(dp purchase.Datapoint, now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.hot) == 0 { // no contention: no group to name
		return ""
	}
	group := PartGroup(dp)
	until, ok := p.hot[group]
	if !ok {
		return ""
	}
	if now.After(until) {
		delete(p.hot, group)
		return ""
	}
	return PartKey(group, p.shard)
}

// contended records a conflict on an item the group's increments went to:
// the group becomes hot, or, if it already was (its part conflicted: another
// store has the same shard), this store moves to another shard, once per
// cancelled transaction (moved). It stays hot for hotFor. Groups that cooled
// down are forgotten (an hour past, a merchant gone quiet).
func (p *parts) contended(group string, now time.Time, hotFor time.Duration, moved *bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	maps.DeleteFunc(p.hot, func(g string, until time.Time) bool { return g != group && now.After(until) })
	if _, ok := p.hot[group]; ok && !*moved {
		p.shard = (p.shard + 1 + p.rng.IntN(PartShards-1)) % PartShards
		*moved = true
	}
	p.hot[group] = now.Add(hotFor)
}

// increment is one datapoint's increment in a transaction.
type increment struct {
	dp purchase.Datapoint
	n  int64
}

// target is one datapoint item of an exactly-once transaction: a main item,
// or a part with the increments of its group's hot datapoints.
type target struct {
	part string // "" for a main item
	adds []increment
}

// targets returns the items a transaction writes the counts to, in a
// stable order: the main item of each datapoint, or while its group is hot
// for this store, the store's part of the group, once for all its datapoints.
func (s *Store) targets(counts purchase.Increments) []target {
	now := time.Now()
	var out []target
	byPart := map[string]int{}
	for _, dp := range sortedDatapoints(counts) {
		add := increment{dp, counts[dp]}
		part := ""
		if s.parts != nil {
			part = s.parts.target(dp, now)
		}
		if part == "" {
			out = append(out, target{adds: []increment{add}})
			continue
		}
		i, ok := byPart[part]
		if !ok {
			i = len(out)
			byPart[part] = i
			out = append(out, target{part: part})
		}
		out[i].adds = append(out[i].adds, add)
	}
	return out
}

// update is the ADD of a target's increments: into the main item, as
// addExpression, or into a part: one ADD per datapoint attribute, the sum to
// `events`, and partOf, which puts the part in the byPart index.
func (t target) update(table string) *types.Update {
	first := t.adds[0].dp
	if t.part == "" {
		return addUpdate(table, first, t.adds[0].n)
	}
	values := addValues(first, t.sum())
	values[":p"] = &types.AttributeValueMemberS{Value: PartGroup(first)}
	names := addNames()
	names["#partOf"] = AttrPartOf
	adds := make([]string, 0, len(t.adds)+1)
	adds = append(adds, "#events :n")
	for i, a := range t.adds {
		name, value := "#c"+strconv.Itoa(i), ":c"+strconv.Itoa(i)
		names[name] = a.dp.Key
		values[value] = &types.AttributeValueMemberN{Value: strconv.FormatInt(a.n, 10)}
		adds = append(adds, name+" "+value)
	}
	return &types.Update{
		TableName:                 aws.String(table),
		Key:                       datapointKey(t.part),
		UpdateExpression:          aws.String("ADD " + strings.Join(adds, ", ") + " SET #report = :r, #listKey = :lk, #partOf = :p"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// sum returns the sum of the target's increments.
func (t target) sum() int64 {
	var n int64
	for _, a := range t.adds {
		n += a.n
	}
	return n
}

// maxMoves bounds how often one transaction moves contended groups to
// other items before its conflicts are retried with backoff like any other.
const maxMoves = 2 * PartShards

// moveContended reads a transaction's cancellation: the group of each
// target (after the markers) cancelled for a TransactionConflict becomes
// hot, or moves to another shard if it was a part. It reports whether any
// did.
func (s *Store) moveContended(err error, targets []target, markers int) bool {
	var tce *types.TransactionCanceledException
	if s.parts == nil || !errors.As(err, &tce) {
		return false
	}
	now := time.Now()
	moved, shardMoved := false, false
	for i, reason := range tce.CancellationReasons {
		if j := i - markers; j >= 0 && j < len(targets) && aws.ToString(reason.Code) == "TransactionConflict" {
			s.parts.contended(PartGroup(targets[j].adds[0].dp), now, s.hotFor, &shardMoved)
			moved = true
		}
	}
	return moved
}

// WithoutParts turns write sharding off: exactly-once transactions always
// write the main items and retry their conflicts with backoff, as before
// issue 14 (for comparison in benchmarks).
func WithoutParts() Option { return func(s *Store) { s.parts = nil } }
