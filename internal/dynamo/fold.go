package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/acmecheckout/reports/internal/backoff"
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
	return s.foldParts(ctx, keys), nil
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

// foldParts folds the parts named by keys, s.concurrency at a time. A part
// that cannot be folded is logged and left for a later fold.
func (s *Store) foldParts(ctx context.Context, keys []string) FoldResult {
	res := FoldResult{Pending: len(keys)}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(s.concurrency)
	for _, key := range keys {
		g.Go(func() error {
			n, folded, err := s.foldPart(ctx, key)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				res.Left++
				s.log.WarnContext(ctx, "part not folded; a later fold moves it", "table", s.table, "part", key, "error", err)
			case folded:
				res.Folded++
				res.Events += n
			}
			return nil
		})
	}
	_ = g.Wait() // the folds report their own errors
	return res
}

// foldPart moves one part into its main item: it reads the part's count n,
// then in one transaction adds n to the main item and deletes the part on
// condition that it still holds n. A part that changed in between is read
// again. It returns the events moved and whether the part was folded (false
// when it no longer exists).
func (s *Store) foldPart(ctx context.Context, key string) (int64, bool, error) {
	for attempt := 1; ; attempt++ {
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(s.table),
			Key:            datapointKey(key),
			ConsistentRead: aws.Bool(true),
		}, s.withRetryer)
		if err != nil {
			return 0, false, fmt.Errorf("fold %s: read: %w", key, err)
		}
		if out.Item == nil {
			return 0, false, nil
		}
		n, err := partEvents(out.Item)
		if err != nil {
			return 0, false, fmt.Errorf("fold %s: %w", key, err)
		}
		items := []types.TransactWriteItem{{Delete: &types.Delete{
			TableName:                 aws.String(s.table),
			Key:                       datapointKey(key),
			ConditionExpression:       aws.String("#events = :n"),
			ExpressionAttributeNames:  map[string]string{"#events": AttrEvents},
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": out.Item[AttrEvents]},
		}}}
		if n != 0 {
			main, ok := out.Item[AttrPartOf].(*types.AttributeValueMemberS)
			if !ok {
				return 0, false, fmt.Errorf("fold %s: part without string %s", key, AttrPartOf)
			}
			items = append(items, types.TransactWriteItem{Update: &types.Update{
				TableName:                aws.String(s.table),
				Key:                      datapointKey(main.Value),
				UpdateExpression:         aws.String(addExpression),
				ExpressionAttributeNames: addNames(),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":n":  out.Item[AttrEvents],
					":r":  out.Item[AttrReport],
					":lk": out.Item[AttrListKey],
				},
			}})
		}
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}, s.withRetryer)
		if err == nil {
			return n, true, nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) || attempt >= s.maxAttempts {
			return 0, false, fmt.Errorf("fold %s: %w", key, err)
		}
		// The part changed (a writer added to it), or another transaction
		// holds one of the items: read again, after a pause.
		if err := backoff.Sleep(ctx, s.delays.Delay(attempt)); err != nil {
			return 0, false, fmt.Errorf("fold %s: %w", key, err)
		}
	}
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
