package dynamo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
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
	// Events is the number of events it moved.
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

// foldParts folds the parts named by keys, one transaction per datapoint
// (all its parts at once: folds of one datapoint's parts would contend for
// its main item), s.concurrency datapoints at a time, trying each at most
// attempts times. It returns the parts it could not fold (left for a later
// fold).
func (s *Store) foldParts(ctx context.Context, keys []string, attempts int) (FoldResult, []string) {
	res := FoldResult{Pending: len(keys)}
	byMain := map[string][]string{}
	for _, k := range keys {
		if main, ok := mainOfPart(k); ok {
			byMain[main] = append(byMain[main], k)
		}
	}
	var left []string
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(s.concurrency)
	for _, main := range slices.Sorted(maps.Keys(byMain)) {
		g.Go(func() error {
			parts := byMain[main]
			n, folded, units, err := s.foldDatapoint(ctx, main, parts, attempts)
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

// foldDatapoint moves parts of one datapoint into its main item: it reads
// the parts' counts, then in one transaction adds their sum to the main item
// and deletes each part on condition that it still holds what was read. If a
// writer added to a part in between, nothing is applied and the parts are
// read again. It returns the events moved and the parts folded (those that
// no longer exist are not).
func (s *Store) foldDatapoint(ctx context.Context, main string, keys []string, attempts int) (events int64, folded int, units float64, err error) {
	for attempt := 1; ; attempt++ {
		found, err := s.readParts(ctx, keys)
		if err != nil {
			return 0, 0, units, fmt.Errorf("fold %s: %w", main, err)
		}
		if len(found) == 0 {
			return 0, 0, units, nil
		}
		var sum int64
		items := make([]types.TransactWriteItem, 0, len(found)+1)
		for _, part := range found {
			n, err := partEvents(part)
			if err != nil {
				return 0, 0, units, fmt.Errorf("fold %s: %w", main, err)
			}
			sum += n
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{
				TableName:                 aws.String(s.table),
				Key:                       map[string]types.AttributeValue{AttrDatapoint: part[AttrDatapoint]},
				ConditionExpression:       aws.String("#events = :n"),
				ExpressionAttributeNames:  map[string]string{"#events": AttrEvents},
				ExpressionAttributeValues: map[string]types.AttributeValue{":n": part[AttrEvents]},
			}})
		}
		if sum != 0 {
			items = append(items, types.TransactWriteItem{Update: &types.Update{
				TableName:                aws.String(s.table),
				Key:                      datapointKey(main),
				UpdateExpression:         aws.String(addExpression),
				ExpressionAttributeNames: addNames(),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":n":  &types.AttributeValueMemberN{Value: strconv.FormatInt(sum, 10)},
					":r":  found[0][AttrReport],
					":lk": found[0][AttrListKey],
				},
			}})
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
			return 0, 0, units, fmt.Errorf("fold %s: %w", main, err)
		}
		// A part changed (a writer added to it), or another transaction
		// holds one of the items: read again, after a pause.
		if err := backoff.Sleep(ctx, s.delays.Delay(attempt)); err != nil {
			return 0, 0, units, fmt.Errorf("fold %s: %w", main, err)
		}
	}
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

// partEvents reads the count of a part item.
func partEvents(item map[string]types.AttributeValue) (int64, error) {
	e, ok := item[AttrEvents].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("part without number %s", AttrEvents)
	}
	n, err := strconv.ParseInt(e.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("part events %q: %w", e.Value, err)
	}
	return n, nil
}
