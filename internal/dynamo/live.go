package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/acmecheckout/reports/internal/backoff"
)

// A datapoint's live count is its main item plus its parts: 1 + PartShards
// items, read in one TransactGetItems (at most MaxTransactionItems items), so
// datapointsPerRead datapoints per request.
const (
	itemsPerDatapoint = 1 + PartShards
	datapointsPerRead = MaxTransactionItems / itemsPerDatapoint
)

// liveCounts returns the live, exact count of each datapoint: its main item
// plus its parts, read atomically (TransactGetItems), so that a fold moving a
// part meanwhile is seen either wholly before or wholly after. Datapoints
// without any item are left out of the map.
func (s *Store) liveCounts(ctx context.Context, datapoints []string) (map[string]int64, error) {
	counts := make(map[string]int64, len(datapoints))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(s.concurrency)
	for chunk := range slices.Chunk(datapoints, datapointsPerRead) {
		g.Go(func() error {
			found, err := s.readLive(ctx, chunk)
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
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return counts, nil
}

// readLive reads up to datapointsPerRead datapoints' main items and parts in
// one TransactGetItems, retrying conflicts and throttling with backoff.
func (s *Store) readLive(ctx context.Context, datapoints []string) (map[string]int64, error) {
	items := make([]types.TransactGetItem, 0, len(datapoints)*itemsPerDatapoint)
	owner := make([]string, 0, cap(items))
	for _, dp := range datapoints {
		keys := []string{dp}
		for shard := range PartShards {
			keys = append(keys, PartKey(dp, shard))
		}
		for _, k := range keys {
			items = append(items, types.TransactGetItem{Get: &types.Get{
				TableName:                aws.String(s.table),
				Key:                      datapointKey(k),
				ProjectionExpression:     aws.String("#d, #e"),
				ExpressionAttributeNames: map[string]string{"#d": AttrDatapoint, "#e": AttrEvents},
			}})
			owner = append(owner, dp)
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
			return nil, fmt.Errorf("read %d datapoints with their parts: %w", len(datapoints), err)
		}
		if err := backoff.Sleep(ctx, s.delays.Delay(attempt)); err != nil {
			return nil, fmt.Errorf("read %d datapoints with their parts: %w", len(datapoints), err)
		}
	}
}
