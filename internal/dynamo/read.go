package dynamo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/acmecheckout/reports/internal/backoff"
	"github.com/acmecheckout/reports/internal/purchase"
)

// maxBatchGet is DynamoDB's limit of keys per BatchGetItem.
const maxBatchGet = 100

// Get implements purchase.Reader: the live, exact count of a datapoint, its
// main item plus its parts (SPEC §3), read atomically.
func (s *Store) Get(ctx context.Context, datapoint string) (purchase.Total, error) {
	if datapoint == "" {
		return purchase.Total{}, errors.New("get datapoint: empty datapoint")
	}
	counts, err := s.liveCounts(ctx, []string{datapoint})
	if err != nil {
		return purchase.Total{}, fmt.Errorf("get %s: %w", datapoint, err)
	}
	n, ok := counts[datapoint]
	if !ok {
		return purchase.Total{}, fmt.Errorf("get %s: %w", datapoint, purchase.ErrNotFound)
	}
	return purchase.Total{Datapoint: datapoint, Events: n}, nil
}

// List implements purchase.Reader: it queries the byListKey index for the
// report's (and day's) datapoints and parts (parts carry the listKey of
// their datapoints), then reads the counts: with BatchGetItem for
// datapoints of groups without parts, and for a group with parts every
// datapoint it may hold and its parts together (TransactGetItems), so that a
// fold meanwhile never makes a count be seen twice or not at all. As for a
// new datapoint, a part created in the instant before the index shows it is
// not yet in the listing. Datapoints at zero (left by a compensated failure
// in plain mode) are omitted.
func (s *Store) List(ctx context.Context, r purchase.Report, day string) ([]purchase.Total, error) {
	if err := checkList(r, day); err != nil {
		return nil, err
	}
	lk := listKey(r, day)
	var mains []string
	partsOf := map[string][]string{} // group → its parts the index lists
	pages := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(IndexByList),
		KeyConditionExpression:    aws.String("#lk = :lk"),
		ExpressionAttributeNames:  map[string]string{"#lk": AttrListKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":lk": &types.AttributeValueMemberS{Value: lk}},
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx, s.withRetryer)
		if err != nil {
			return nil, fmt.Errorf("list %s: query %s: %w", lk, IndexByList, err)
		}
		for _, item := range page.Items {
			k, ok := item[AttrDatapoint].(*types.AttributeValueMemberS)
			if !ok {
				return nil, fmt.Errorf("list %s: index item without string %s", lk, AttrDatapoint)
			}
			if group, isPart := groupOfPart(k.Value); isPart {
				partsOf[group] = append(partsOf[group], k.Value)
			} else {
				mains = append(mains, k.Value)
			}
		}
	}

	var reads []liveRead
	withParts := map[string]bool{}
	for _, group := range slices.Sorted(maps.Keys(partsOf)) {
		members := groupMembers(group)
		if members == nil {
			// A part of no group (one written before parts were
			// grouped) is left to the fold, which moves it.
			continue
		}
		for _, dp := range members {
			withParts[dp] = true
		}
		reads = append(reads, liveRead{mains: members, parts: partsOf[group]})
	}
	var plain []string
	for _, dp := range mains {
		if !withParts[dp] {
			plain = append(plain, dp)
		}
	}
	batches := slices.Collect(slices.Chunk(plain, maxBatchGet))
	found := make([][]purchase.Total, len(batches))
	var eg errgroup.Group
	eg.SetLimit(s.concurrency)
	for i, batch := range batches {
		eg.Go(func() error {
			var err error
			found[i], err = s.batchGet(ctx, batch)
			return err
		})
	}
	var live map[string]int64
	eg.Go(func() error {
		var err error
		live, err = s.readLive(ctx, reads)
		return err
	})
	if err := eg.Wait(); err != nil {
		return nil, fmt.Errorf("list %s: %w", lk, err)
	}
	counts := slices.Concat(found...)
	for dp, n := range live {
		if n != 0 { // only a compensated failure leaves a zero
			counts = append(counts, purchase.Total{Datapoint: dp, Events: n})
		}
	}
	slices.SortFunc(counts, func(a, b purchase.Total) int { return cmp.Compare(a.Datapoint, b.Datapoint) })
	return counts, nil
}

// BadListingError is returned (wrapped) by List for a report or day it
// cannot serve, with the reason: the one place a listing is checked, for the
// store and the command-line tool (which reports it as a usage error).
type BadListingError struct{ Reason error }

func (e *BadListingError) Error() string { return e.Reason.Error() }

// Unwrap returns the reason.
func (e *BadListingError) Unwrap() error { return e.Reason }

// checkList rejects a report or day List cannot serve, with a clear reason.
func checkList(r purchase.Report, day string) error {
	if _, err := purchase.ParseReport(string(r)); err != nil {
		return fmt.Errorf("list: %w", &BadListingError{err})
	}
	if err := r.CheckDay(day); err != nil {
		return fmt.Errorf("list %s: %w", r, &BadListingError{fmt.Errorf("--day: %w", err)})
	}
	return nil
}

// batchGet reads the counts of up to maxBatchGet datapoints.
func (s *Store) batchGet(ctx context.Context, datapoints []string) ([]purchase.Total, error) {
	items, err := s.getItems(ctx, datapoints, types.KeysAndAttributes{
		ProjectionExpression:     aws.String("#d, #e"),
		ExpressionAttributeNames: map[string]string{"#d": AttrDatapoint, "#e": AttrEvents},
	})
	if err != nil {
		return nil, err
	}
	counts := make([]purchase.Total, 0, len(items))
	for _, item := range items {
		c, err := countOf(item)
		if err != nil {
			return nil, err
		}
		if c.Events != 0 { // only a compensated failure leaves a zero
			counts = append(counts, c)
		}
	}
	return counts, nil
}

// getItems reads the items of up to maxBatchGet datapoint keys with
// BatchGetItem, shaped by shape (its Keys are set here), and retries
// unprocessed keys with capped exponential backoff and full jitter. Items
// that do not exist are absent from the answer.
func (s *Store) getItems(ctx context.Context, keys []string, shape types.KeysAndAttributes) ([]map[string]types.AttributeValue, error) {
	shape.Keys = make([]map[string]types.AttributeValue, len(keys))
	for i, k := range keys {
		shape.Keys[i] = datapointKey(k)
	}
	request := map[string]types.KeysAndAttributes{s.table: shape}
	var items []map[string]types.AttributeValue
	for attempt := 1; ; attempt++ {
		out, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request}, s.withRetryer)
		if err != nil {
			return nil, fmt.Errorf("batch get %d items: %w", len(keys), err)
		}
		items = append(items, out.Responses[s.table]...)
		rest, ok := out.UnprocessedKeys[s.table]
		if !ok || len(rest.Keys) == 0 {
			return items, nil
		}
		if attempt >= s.maxAttempts {
			return nil, fmt.Errorf("batch get: %d of %d items still unprocessed after %d attempts", len(rest.Keys), len(keys), attempt)
		}
		if err := backoff.Sleep(ctx, s.delays.Delay(attempt)); err != nil {
			return nil, fmt.Errorf("batch get: %w", err)
		}
		request = out.UnprocessedKeys
	}
}

// countOf reads a datapoints table item. An item without events counts 0.
func countOf(item map[string]types.AttributeValue) (purchase.Total, error) {
	d, ok := item[AttrDatapoint].(*types.AttributeValueMemberS)
	if !ok {
		return purchase.Total{}, fmt.Errorf("item without string %s", AttrDatapoint)
	}
	c := purchase.Total{Datapoint: d.Value}
	if e, ok := item[AttrEvents]; ok {
		n, err := numberOf(e)
		if err != nil {
			return purchase.Total{}, fmt.Errorf("%s: %s: %w", d.Value, AttrEvents, err)
		}
		c.Events = n
	}
	return c, nil
}

// numberOf reads a number attribute.
func numberOf(v types.AttributeValue) (int64, error) {
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return 0, errors.New("not a number")
	}
	i, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("number %q: %w", n.Value, err)
	}
	return i, nil
}
