package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/acmecheckout/reports/internal/backoff"
	"github.com/acmecheckout/reports/internal/purchase"
)

// liveRead is what one atomic read covers: main items, and the parts that
// may hold some of their counts (parts of their group).
type liveRead struct {
	mains []string
	parts []string
}

// liveCounts returns the live, exact count of each datapoint: its main item
// plus what every part of its group (PartShards of them) holds for it, read
// atomically (TransactGetItems), so that a fold moving a part meanwhile is
// seen either wholly before or wholly after. Datapoints without any count
// are left out of the map.
func (s *Store) liveCounts(ctx context.Context, datapoints []string) (map[string]int64, error) {
	var reads []liveRead
	byGroup := map[string]int{}
	for _, k := range slices.Compact(slices.Sorted(slices.Values(datapoints))) {
		dp, err := purchase.ParseDatapoint(k)
		if err != nil { // no datapoint of SPEC §2: no part counts it
			reads = append(reads, liveRead{mains: []string{k}})
			continue
		}
		group := PartGroup(dp)
		i, ok := byGroup[group]
		if !ok {
			i = len(reads)
			byGroup[group] = i
			r := liveRead{}
			for shard := range PartShards {
				r.parts = append(r.parts, PartKey(group, shard))
			}
			reads = append(reads, r)
		}
		reads[i].mains = append(reads[i].mains, k)
	}
	return s.readLive(ctx, reads)
}

// readLive reads each liveRead atomically and returns each main datapoint's
// sum: the reads are packed into TransactGetItems requests of at most
// MaxTransactionItems items, s.concurrency requests at a time.
func (s *Store) readLive(ctx context.Context, reads []liveRead) (map[string]int64, error) {
	var requests [][]liveRead
	items := 0
	for _, r := range reads {
		n := len(r.mains) + len(r.parts)
		if len(requests) == 0 || items+n > MaxTransactionItems {
			requests = append(requests, nil)
			items = 0
		}
		requests[len(requests)-1] = append(requests[len(requests)-1], r)
		items += n
	}
	counts := map[string]int64{}
	var mu sync.Mutex
	var eg errgroup.Group
	eg.SetLimit(s.concurrency)
	for _, request := range requests {
		eg.Go(func() error {
			found, err := s.transactGet(ctx, request)
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

// transactGet reads reads (at most MaxTransactionItems items in all) in one
// TransactGetItems, retrying conflicts and throttling with backoff, and sums
// each main datapoint's count: its main item's events and what the parts
// read with it hold for it.
func (s *Store) transactGet(ctx context.Context, reads []liveRead) (map[string]int64, error) {
	var items []types.TransactGetItem
	var of []int // index of the read each item belongs to
	for i, r := range reads {
		for _, k := range r.mains {
			items = append(items, types.TransactGetItem{Get: &types.Get{
				TableName:                aws.String(s.table),
				Key:                      datapointKey(k),
				ProjectionExpression:     aws.String("#d, #e"),
				ExpressionAttributeNames: map[string]string{"#d": AttrDatapoint, "#e": AttrEvents},
			}})
			of = append(of, i)
		}
		for _, k := range r.parts {
			// A part is under 1 KB: read whole, its counts named by datapoints.
			items = append(items, types.TransactGetItem{Get: &types.Get{TableName: aws.String(s.table), Key: datapointKey(k)}})
			of = append(of, i)
		}
	}
	for attempt := 1; ; attempt++ {
		out, err := s.client.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: items}, s.withRetryer)
		if err == nil {
			return sumLive(reads, of, out.Responses)
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) || attempt >= s.maxAttempts {
			return nil, fmt.Errorf("read %d items of datapoints and their parts: %w", len(items), err)
		}
		if err := backoff.Sleep(ctx, s.delays.Delay(attempt)); err != nil {
			return nil, fmt.Errorf("read %d items of datapoints and their parts: %w", len(items), err)
		}
	}
}

// sumLive sums what a TransactGetItems answered (responses, index-aligned
// with the items, the item i of read of[i]) by main datapoint.
func sumLive(reads []liveRead, of []int, responses []types.ItemResponse) (map[string]int64, error) {
	counts := map[string]int64{}
	for i, r := range responses {
		if r.Item == nil || i >= len(of) {
			continue
		}
		if k, ok := r.Item[AttrDatapoint].(*types.AttributeValueMemberS); ok && strings.HasPrefix(k.Value, partPrefix) {
			for _, dp := range reads[of[i]].mains {
				if v, ok := r.Item[dp]; ok {
					n, err := numberOf(v)
					if err != nil {
						return nil, fmt.Errorf("part %s: count of %s: %w", k.Value, dp, err)
					}
					counts[dp] += n
				}
			}
			continue
		}
		c, err := countOf(r.Item)
		if err != nil {
			return nil, err
		}
		counts[c.Datapoint] += c.Events
	}
	return counts, nil
}
