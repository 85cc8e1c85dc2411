package dynamo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/acmecheckout/reports/internal/backoff"
	"github.com/acmecheckout/reports/internal/purchase"
)

// FoldResult says what a fold did.
type FoldResult struct {
	// Pending is the number of parts the fold found.
	Pending int `json:"pending"`
	// Folded is the number of parts it moved into their main items.
	Folded int `json:"folded"`
	// Events is the number of increments it moved (an event adds one to each
	// of five datapoints).
	Events int64 `json:"events"`
	// Left is the number of parts it could not move (a writer kept changing
	// them, or a request failed); a later fold moves them.
	Left int `json:"left"`
	// WriteUnits is the write capacity DynamoDB reports the fold consumed.
	WriteUnits float64 `json:"writeUnits"`
}

// settle is Add of no deliveries: in exactly-once mode, fold every pending
// part (the aggregator's schedule invokes it so).
func (s *Store) settle(ctx context.Context) (purchase.AddResult, error) {
	if s.idempotency == "" || s.parts == nil {
		return purchase.AddResult{}, nil // plain mode writes no parts
	}
	res, err := s.Fold(ctx)
	if err != nil {
		return purchase.AddResult{}, fmt.Errorf("settle pending parts: %w", err)
	}
	if res.Pending > 0 {
		s.log.InfoContext(ctx, "settled pending parts", "table", s.table, "pending", res.Pending,
			"folded", res.Folded, "events", res.Events, "left", res.Left, "writeUnits", res.WriteUnits)
	}
	return purchase.AddResult{WriteUnits: res.WriteUnits}, nil
}

// Fold moves every pending part of the table into its main item, so that
// every main item holds its exact count (SPEC §3): what `reports fold` and
// the aggregator's schedule do. Exact when it races with writers. Nothing
// pending is a no-op. An error means the pending parts could not be listed.
func (s *Store) Fold(ctx context.Context) (FoldResult, error) {
	keys, err := s.pendingParts(ctx)
	if err != nil {
		return FoldResult{}, err
	}
	res, left := s.foldParts(ctx, keys, s.maxAttempts)
	for _, key := range left {
		s.log.WarnContext(ctx, "part not folded; a later fold moves it", "table", s.table, "part", key)
	}
	return res, nil
}

// pendingParts lists the parts of the table from the sparse byPart index.
func (s *Store) pendingParts(ctx context.Context) ([]string, error) {
	var keys []string
	pages := dynamodb.NewScanPaginator(s.client, &dynamodb.ScanInput{
		TableName: aws.String(s.table),
		IndexName: aws.String(IndexByPart),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx, s.withRetryer)
		if err != nil {
			return nil, fmt.Errorf("list pending parts of %s: %w", s.table, err)
		}
		for _, item := range page.Items {
			if k, ok := item[AttrDatapoint].(*types.AttributeValueMemberS); ok {
				keys = append(keys, k.Value)
			}
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil
}

// foldParts folds the parts named by keys, one transaction per group (all
// its parts at once: folds of one group's parts would contend for its main
// items, and each main item is written once for all of them), s.concurrency
// groups at a time, trying each at most attempts times. It returns the parts
// it could not fold (left for a later fold).
func (s *Store) foldParts(ctx context.Context, keys []string, attempts int) (FoldResult, []string) {
	res := FoldResult{Pending: len(keys)}
	byGroup := map[string][]string{}
	for _, k := range keys {
		if group, ok := groupOfPart(k); ok {
			byGroup[group] = append(byGroup[group], k)
		}
	}
	var left []string
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(s.concurrency)
	for _, group := range slices.Sorted(maps.Keys(byGroup)) {
		g.Go(func() error {
			parts := byGroup[group]
			n, folded, units, err := s.foldGroup(ctx, group, parts, attempts)
			mu.Lock()
			defer mu.Unlock()
			res.WriteUnits += units
			if err != nil {
				res.Left += len(parts)
				left = append(left, parts...)
				return nil
			}
			res.Folded += folded
			res.Events += n
			return nil
		})
	}
	_ = g.Wait() // the folds report their own errors
	return res, left
}

// foldGroup moves parts of one group into their main items: it reads the
// parts, then in one transaction adds each datapoint's sum to its main item
// and deletes each part on condition that its `events` (the sum of its
// counts, which every write increases) is still what was read. If a writer
// added to a part in between, nothing is applied and the parts are read
// again. It returns the increments moved and the parts folded (those that no
// longer exist are not).
func (s *Store) foldGroup(ctx context.Context, group string, keys []string, attempts int) (moved int64, folded int, units float64, err error) {
	for attempt := 1; ; attempt++ {
		found, err := s.readParts(ctx, keys)
		if err != nil {
			return 0, 0, units, fmt.Errorf("fold %s: %w", group, err)
		}
		if len(found) == 0 {
			return 0, 0, units, nil
		}
		items, sum, err := s.foldItems(found)
		if err != nil {
			return 0, 0, units, fmt.Errorf("fold %s: %w", group, err)
		}
		out, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			TransactItems:          items,
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		}, s.withRetryer)
		if err == nil {
			for _, c := range out.ConsumedCapacity {
				units += aws.ToFloat64(c.CapacityUnits)
			}
			return sum, len(found), units, nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) || attempt >= attempts {
			return 0, 0, units, fmt.Errorf("fold %s: %w", group, err)
		}
		// A part changed (a writer added to it), or another transaction
		// holds one of the items: read again, after a pause.
		if err := backoff.Sleep(ctx, s.delays.Delay(attempt)); err != nil {
			return 0, 0, units, fmt.Errorf("fold %s: %w", group, err)
		}
	}
}

// foldItems returns the transaction that folds the parts found (items read
// from the table): each part's conditional delete, then the ADD of each
// datapoint's sum to its main item; and the sum of all it moves.
func (s *Store) foldItems(found []map[string]types.AttributeValue) ([]types.TransactWriteItem, int64, error) {
	sums := map[string]int64{}
	var moved int64
	items := make([]types.TransactWriteItem, 0, len(found))
	for _, part := range found {
		counts, err := partCounts(part)
		if err != nil {
			return nil, 0, err
		}
		for dp, n := range counts {
			sums[dp] += n
			moved += n
		}
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{
			TableName:                 aws.String(s.table),
			Key:                       map[string]types.AttributeValue{AttrDatapoint: part[AttrDatapoint]},
			ConditionExpression:       aws.String("#events = :n"),
			ExpressionAttributeNames:  map[string]string{"#events": AttrEvents},
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": part[AttrEvents]},
		}})
	}
	for _, dp := range slices.Sorted(maps.Keys(sums)) {
		if sums[dp] == 0 {
			continue
		}
		d, err := purchase.ParseDatapoint(dp)
		if err != nil {
			return nil, 0, fmt.Errorf("part counts: %w", err)
		}
		items = append(items, types.TransactWriteItem{Update: addUpdate(s.table, d, sums[dp])})
	}
	if len(items) > MaxTransactionItems {
		return nil, 0, fmt.Errorf("%d parts of %d datapoints make %d items, more than a transaction takes", len(found), len(sums), len(items))
	}
	return items, moved, nil
}

// readParts reads the part items named by keys (strongly consistent), those
// that exist.
func (s *Store) readParts(ctx context.Context, keys []string) ([]map[string]types.AttributeValue, error) {
	items, err := s.getItems(ctx, keys, types.KeysAndAttributes{ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read parts: %w", err)
	}
	return items, nil
}
