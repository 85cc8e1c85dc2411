package dynamo

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/acmecheckout/reports/internal/backoff"
)

// liveCounts returns the live, exact count of each datapoint: its main item
// plus every part it may have (PartShards of them), read atomically
// (TransactGetItems), so that a fold moving a part meanwhile is seen either
// wholly before or wholly after. Datapoints without any item are left out of
// the map.
func (s *Store) liveCounts(ctx context.Context, datapoints []string) (map[string]int64, error) {
	groups := make([][]string, len(datapoints))
	for i, dp := range datapoints {
		groups[i] = []string{dp}
		for shard := range PartShards {
			groups[i] = append(groups[i], PartKey(dp, shard))
		}
	}
	return s.readGroups(ctx, groups)
}

// readGroups reads groups of items, each a datapoint's main item key first
// and then keys of its parts, and returns each datapoint's sum. A group is
// read atomically: groups are packed into TransactGetItems requests of at
// most MaxTransactionItems items, s.concurrency requests at a time.
func (s *Store) readGroups(ctx context.Context, groups [][]string) (map[string]int64, error) {
	var requests [][][]string
	items := 0
	for _, g := range groups {
		if len(requests) == 0 || items+len(g) > MaxTransactionItems {
			requests = append(requests, nil)
			items = 0
		}
		requests[len(requests)-1] = append(requests[len(requests)-1], g)
		items += len(g)
	}
	counts := map[string]int64{}
	var mu sync.Mutex
	var eg errgroup.Group
	eg.SetLimit(s.concurrency)
	for _, request := range requests {
		eg.Go(func() error {
			found, err := s.readLive(ctx, request)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for dp, n := range found {
				counts[dp] = n
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	return counts, nil
}

// readLive reads groups (at most MaxTransactionItems items in all) in one
// TransactGetItems, retrying conflicts and throttling with backoff.
func (s *Store) readLive(ctx context.Context, groups [][]string) (map[string]int64, error) {
	var items []types.TransactGetItem
	var owner []string
	for _, g := range groups {
		for _, k := range g {
			items = append(items, types.TransactGetItem{Get: &types.Get{
				TableName:                aws.String(s.table),
				Key:                      datapointKey(k),
				ProjectionExpression:     aws.String("#d, #e"),
				ExpressionAttributeNames: map[string]string{"#d": AttrDatapoint, "#e": AttrEvents},
			}})
			owner = append(owner, g[0])
		}
	}
	for attempt := 1; ; attempt++ {
		out, err := s.client.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: items}, s.withRetryer)
		if err == nil {
			counts := map[string]int64{}
			for i, r := range out.Responses {
				if r.Item == nil || i >= len(owner) {
					continue
				}
				c, err := countOf(r.Item)
				if err != nil {
					return nil, err
				}
				counts[owner[i]] += c.Events
			}
			return counts, nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) || attempt >= s.maxAttempts {
			return nil, fmt.Errorf("read %d datapoints with their parts: %w", len(groups), err)
		}
		if err := backoff.Sleep(ctx, s.delays.Delay(attempt)); err != nil {
			return nil, fmt.Errorf("read %d datapoints with their parts: %w", len(groups), err)
		}
	}
}
