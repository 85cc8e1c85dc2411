package dynamo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acmecheckout/reports/internal/backoff"
	"github.com/acmecheckout/reports/internal/purchase"
)

// Compensation (taking back a failed delivery's increments) runs even when the
// caller's context is already done: for at most compensationTimeout, and never
// more than compensationGrace past the caller's deadline, so that a Lambda
// handler which leaves a safety margin still answers in time.
const (
	compensationTimeout = 10 * time.Second
	compensationGrace   = 500 * time.Millisecond
)

// compensationContext returns the context compensation runs in.
func compensationContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(compensationTimeout)
	if d, ok := ctx.Deadline(); ok && d.Add(compensationGrace).Before(deadline) {
		deadline = d.Add(compensationGrace)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

// Add implements purchase.Counter: exactly once per identity when the store
// has an idempotency table, at least once otherwise (see the package
// documentation). The identities of ds must be distinct. An empty ds counts
// nothing and settles: in exactly-once mode it folds every pending part into
// its main item (see Fold).
func (s *Store) Add(ctx context.Context, ds []purchase.Delivery) (purchase.AddResult, error) {
	if len(ds) == 0 {
		return s.settle(ctx)
	}
	if s.idempotency != "" {
		return s.countOnce(ctx, ds)
	}
	return s.countPlain(ctx, ds)
}

// countPlain writes one ADD per distinct datapoint. Deliveries touching a
// datapoint that failed are reported failed, and what they added to the
// datapoints that succeeded is taken back so a redelivery does not count it
// twice.
func (s *Store) countPlain(ctx context.Context, ds []purchase.Delivery) (purchase.AddResult, error) {
	counts := purchase.Increments{}
	for _, d := range ds {
		counts.Add(d.Event)
	}
	dps := sortedDatapoints(counts)
	errs := make([]error, len(dps))
	writes := make([]written, len(dps))
	each(len(dps), s.concurrency, func(i int) {
		writes[i], errs[i] = s.add(ctx, dps[i], counts[dps[i]])
	})

	var res purchase.AddResult
	failed := map[purchase.Datapoint]error{}
	var firstErr error
	for i, dp := range dps {
		res.RequestRetries += writes[i].retries
		res.WriteUnits += writes[i].units
		if errs[i] != nil {
			failed[dp] = errs[i]
			firstErr = cmp.Or(firstErr, errs[i])
		} else {
			res.Datapoints++
		}
	}
	if len(failed) == 0 {
		return res, nil
	}
	if res.Datapoints == 0 && unusable(firstErr) {
		return res, fmt.Errorf("count %d deliveries: %w", len(ds), firstErr)
	}

	res.Failed = map[string]error{}
	undo := purchase.Increments{}
	for _, d := range ds {
		points := d.Event.Datapoints()
		var why error
		for _, dp := range points {
			if err, ok := failed[dp]; ok {
				why = err
				break
			}
		}
		if why == nil {
			continue
		}
		res.Failed[d.Identity] = why
		for _, dp := range points {
			if _, ok := failed[dp]; !ok {
				undo[dp]--
			}
		}
	}
	res.WriteUnits += s.compensate(ctx, undo)
	return res, nil
}

// compensate adds the (negative) deltas back. A delta that cannot be written
// leaves its datapoint too high: it is logged at ERROR with the exact
// datapoint and delta so an operator can correct it. It returns the write
// units the compensation consumed.
func (s *Store) compensate(ctx context.Context, undo purchase.Increments) float64 {
	if len(undo) == 0 {
		return 0
	}
	ctx, cancel := compensationContext(ctx)
	defer cancel()
	dps := sortedDatapoints(undo)
	units := make([]float64, len(dps))
	each(len(dps), s.concurrency, func(i int) {
		dp, n := dps[i], undo[dps[i]]
		w, err := s.add(ctx, dp, n)
		units[i] = w.units
		if err != nil {
			s.log.ErrorContext(ctx, "compensation failed: datapoint is too high by -delta; its deliveries are reported failed and will be counted again",
				"table", s.table, "datapoint", dp.Key, "report", string(dp.Report), "delta", n, "error", err)
		}
	})
	s.log.WarnContext(ctx, "took back the increments of failed deliveries", "table", s.table, "datapoints", len(dps))
	var total float64
	for _, u := range units {
		total += u
	}
	return total
}

// written is what one successful write cost: the SDK's retries of it and the
// write capacity units DynamoDB reports it consumed.
type written struct {
	retries int
	units   float64
}

// add applies one atomic ADD of n to a datapoint.
func (s *Store) add(ctx context.Context, dp purchase.Datapoint, n int64) (written, error) {
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       datapointKey(dp.Key),
		UpdateExpression:          aws.String(addExpression),
		ExpressionAttributeNames:  addNames(),
		ExpressionAttributeValues: addValues(dp, n),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	}, s.withRetryer)
	if err != nil {
		return written{}, fmt.Errorf("add %d to %s: %w", n, dp.Key, err)
	}
	w := written{retries: sdkRetries(out.ResultMetadata)}
	if out.ConsumedCapacity != nil {
		w.units = aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
	}
	return w, nil
}

// addExpression is the only way counts change: an atomic ADD (SPEC §3).
const addExpression = "ADD #events :n SET #report = :r, #listKey = :lk"

// addUpdate is the ADD of n to a datapoint's main item in a transaction.
func addUpdate(table string, dp purchase.Datapoint, n int64) *types.Update {
	return &types.Update{
		TableName:                 aws.String(table),
		Key:                       datapointKey(dp.Key),
		UpdateExpression:          aws.String(addExpression),
		ExpressionAttributeNames:  addNames(),
		ExpressionAttributeValues: addValues(dp, n),
	}
}

func addNames() map[string]string {
	return map[string]string{"#events": AttrEvents, "#report": AttrReport, "#listKey": AttrListKey}
}

func addValues(dp purchase.Datapoint, n int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		":n":  &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)},
		":r":  &types.AttributeValueMemberS{Value: string(dp.Report)},
		":lk": &types.AttributeValueMemberS{Value: listKey(dp.Report, dp.Day())},
	}
}

func datapointKey(datapoint string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrDatapoint: &types.AttributeValueMemberS{Value: datapoint}}
}

// listKey is the byListKey partition of a report's datapoints: `<report>|<day>`
// for daily reports, `<report>` for the all-time ones.
func listKey(r purchase.Report, day string) string {
	if day == "" {
		return string(r)
	}
	return string(r) + "|" + day
}

func sortedDatapoints(c purchase.Increments) []purchase.Datapoint {
	return slices.SortedFunc(maps.Keys(c), func(a, b purchase.Datapoint) int { return cmp.Compare(a.Key, b.Key) })
}

// unusable reports whether err means no request can succeed (the table does
// not exist), as opposed to a transient failure.
func unusable(err error) bool {
	var rnf *types.ResourceNotFoundException
	return errors.As(err, &rnf)
}

// message is one delivery of an exactly-once call.
type message struct {
	id     string
	points [5]purchase.Datapoint
}

// chunkResult is what became of one chunk's messages.
type chunkResult struct {
	duplicates      []string
	failed          []string
	err             error
	datapoints      int
	transactions    int
	writeUnits      float64
	requestRetries  int
	conflictRetries int
}

// countOnce counts each identity at most once, in transactions of at most
// s.maxTxItems items.
func (s *Store) countOnce(ctx context.Context, ds []purchase.Delivery) (purchase.AddResult, error) {
	var res purchase.AddResult
	msgs := make([]message, 0, len(ds))
	for _, d := range ds {
		if d.Identity == "" {
			if res.Failed == nil {
				res.Failed = map[string]error{}
			}
			res.Failed[""] = errors.New("a delivery has no identity: exactly-once counting needs one")
			continue
		}
		msgs = append(msgs, message{id: d.Identity, points: d.Event.Datapoints()})
	}
	// Messages sharing datapoints should share a chunk, so that a chunk
	// needs few distinct updates: ordered by bracket and method (an all-time
	// datapoint), then hour, then merchant.
	slices.SortFunc(msgs, func(a, b message) int {
		return cmp.Or(cmp.Compare(a.points[2].Key, b.points[2].Key),
			cmp.Compare(a.points[1].Key, b.points[1].Key),
			cmp.Compare(a.points[4].Key, b.points[4].Key))
	})
	expires := strconv.FormatInt(time.Now().Add(MarkerTTL).Unix(), 10)
	// One transaction at a time: a batch's chunks share its hottest
	// datapoints (the all-time reports), and DynamoDB cancels a transaction
	// touching an item another transaction is writing (TransactionConflict).
	var firstErr error
	for _, chunk := range s.chunks(msgs) {
		r := s.transact(ctx, chunk, expires)
		res.Duplicates = append(res.Duplicates, r.duplicates...)
		res.Datapoints += r.datapoints
		res.Transactions += r.transactions
		res.WriteUnits += r.writeUnits
		res.RequestRetries += r.requestRetries
		res.ConflictRetries += r.conflictRetries
		if len(r.failed) > 0 {
			if res.Failed == nil {
				res.Failed = map[string]error{}
			}
			for _, id := range r.failed {
				res.Failed[id] = r.err
			}
			firstErr = cmp.Or(firstErr, r.err)
		}
	}
	if res.Transactions == 0 && firstErr != nil && unusable(firstErr) {
		return res, fmt.Errorf("count %d deliveries: %w", len(ds), firstErr)
	}
	return res, nil
}

// chunks splits msgs greedily into runs whose markers plus distinct
// datapoints fit in one transaction.
func (s *Store) chunks(msgs []message) [][]message {
	var out [][]message
	start := 0
	points := map[purchase.Datapoint]struct{}{}
	for i, m := range msgs {
		fresh := 0
		for _, dp := range m.points {
			if _, ok := points[dp]; !ok {
				fresh++
			}
		}
		if i-start+1+len(points)+fresh > s.maxTxItems {
			out = append(out, msgs[start:i])
			start = i
			clear(points)
		}
		for _, dp := range m.points {
			points[dp] = struct{}{}
		}
	}
	if start < len(msgs) {
		out = append(out, msgs[start:])
	}
	return out
}

// transact counts one chunk in one transaction: a marker per message,
// conditional on its absence, plus one ADD per distinct datapoint. Messages
// whose marker exists are duplicates and are dropped. The SDK retries
// requests that fail as a whole (throttling, 5xx, timeouts); a transaction
// cancelled for a conflict or for throttling one of its items is retried here,
// with backoff. Anything else fails the chunk, none of whose increments is
// then applied.
func (s *Store) transact(ctx context.Context, msgs []message, expires string) chunkResult {
	var r chunkResult
	live := slices.Clone(msgs)
	moves := 0
	for attempt := 1; len(live) > 0; {
		counts := purchase.Increments{}
		for _, m := range live {
			for _, dp := range m.points {
				counts[dp]++
			}
		}
		targets := s.targets(counts)
		items := make([]types.TransactWriteItem, 0, len(live)+len(targets))
		for _, m := range live {
			items = append(items, types.TransactWriteItem{Put: &types.Put{
				TableName: aws.String(s.idempotency),
				Item: map[string]types.AttributeValue{
					AttrID:        &types.AttributeValueMemberS{Value: m.id},
					AttrExpiresAt: &types.AttributeValueMemberN{Value: expires},
				},
				ConditionExpression:      aws.String("attribute_not_exists(#id)"),
				ExpressionAttributeNames: map[string]string{"#id": AttrID},
			}})
		}
		for _, t := range targets {
			items = append(items, types.TransactWriteItem{Update: t.update(s.table)})
		}

		out, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			TransactItems:          items,
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		}, s.withRetryer)
		if out != nil {
			r.requestRetries += sdkRetries(out.ResultMetadata)
		}
		if err == nil {
			r.transactions++
			r.datapoints += len(counts)
			for _, c := range out.ConsumedCapacity {
				r.writeUnits += aws.ToFloat64(c.CapacityUnits)
			}
			return r
		}
		if s.moveContended(err, targets, len(live)) && moves < maxMoves {
			// The contended groups now go to parts: try again at once.
			moves++
			r.conflictRetries++
			continue
		}
		dups, retry := cancellation(err, len(live), len(items))
		if len(dups) > 0 {
			// Already counted by an earlier delivery: report, drop, go on.
			kept := live[:0]
			for i, m := range live {
				if _, dup := slices.BinarySearch(dups, i); dup {
					r.duplicates = append(r.duplicates, m.id)
				} else {
					kept = append(kept, m)
				}
			}
			live = kept
			continue
		}
		if retry != noRetry && attempt < s.maxAttempts {
			if serr := backoff.Sleep(ctx, s.delays.Delay(attempt)); serr == nil {
				attempt++
				if retry == retryConflict {
					r.conflictRetries++
				} else {
					r.requestRetries++
				}
				continue
			}
		}
		r.err = fmt.Errorf("transact %d messages into %s: %w", len(live), s.table, err)
		for _, m := range live {
			r.failed = append(r.failed, m.id)
		}
		s.log.WarnContext(ctx, "messages not counted; they may be delivered again", "table", s.table, "messages", len(live), "error", err)
		return r
	}
	return r
}

// retryKind says whether and why a cancelled transaction is worth retrying.
type retryKind int

const (
	noRetry       retryKind = iota
	retryThrottle           // an item was throttled: a request retry
	retryConflict           // another transaction held an item: a conflict retry
)

// cancellation reads a TransactionCanceledException whose reasons are
// index-aligned with the items, the first markers of which are message
// markers. It returns the (ascending) indexes of markers that already exist,
// and whether the transaction failed only for reasons worth retrying
// (conflicts, throttling), conflicts taking precedence. An error that is not
// a cancellation, or names an unexpected reason, returns neither: the chunk
// fails.
func cancellation(err error, markers, items int) (dups []int, retry retryKind) {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || len(tce.CancellationReasons) != items {
		return nil, noRetry
	}
	for i, reason := range tce.CancellationReasons {
		switch code := aws.ToString(reason.Code); code {
		case "", "None":
		case "ConditionalCheckFailed":
			if i >= markers { // the updates carry no condition
				return nil, noRetry
			}
			dups = append(dups, i)
		case "TransactionConflict":
			retry = retryConflict
		case "ThrottlingError", "ProvisionedThroughputExceeded":
			retry = max(retry, retryThrottle)
		default:
			return nil, noRetry
		}
	}
	return dups, retry
}
