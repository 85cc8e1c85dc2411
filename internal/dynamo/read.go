package dynamo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acmecheckout/reports/internal/backoff"
	"github.com/acmecheckout/reports/internal/purchase"
)

// maxBatchGet is DynamoDB's limit of keys per BatchGetItem.
const maxBatchGet = 100

// Get implements purchase.Reader: one GetItem on the datapoint, as the
// reporting UI does (SPEC §3).
func (s *Store) Get(ctx context.Context, datapoint string) (purchase.Total, error) {
	if datapoint == "" {
		return purchase.Total{}, errors.New("get datapoint: empty datapoint")
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(s.table),
		Key:                      datapointKey(datapoint),
		ProjectionExpression:     aws.String("#d, #e"),
		ExpressionAttributeNames: map[string]string{"#d": AttrDatapoint, "#e": AttrEvents},
	}, s.withRetryer)
	if err != nil {
		return purchase.Total{}, fmt.Errorf("get %s: %w", datapoint, err)
	}
	if out.Item == nil {
		return purchase.Total{}, fmt.Errorf("get %s: %w", datapoint, purchase.ErrNotFound)
	}
	c, err := countOf(out.Item)
	if err != nil {
		return purchase.Total{}, fmt.Errorf("get %s: %w", datapoint, err)
	}
	return c, nil
}

// List implements purchase.Reader: it queries the byListKey index for the
// report's (and day's) datapoints, then reads their counts with BatchGetItem.
// Datapoints at zero (left by a compensated failure in plain mode) are
// omitted.
func (s *Store) List(ctx context.Context, r purchase.Report, day string) ([]purchase.Total, error) {
	if err := checkList(r, day); err != nil {
		return nil, err
	}
	lk := listKey(r, day)
	var keys []string
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
			keys = append(keys, k.Value)
		}
	}

	batches := slices.Collect(slices.Chunk(keys, maxBatchGet))
	found := make([][]purchase.Total, len(batches))
	errs := make([]error, len(batches))
	each(len(batches), s.concurrency, func(i int) {
		found[i], errs[i] = s.batchGet(ctx, batches[i])
	})
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("list %s: %w", lk, err)
	}
	counts := slices.Concat(found...)
	slices.SortFunc(counts, func(a, b purchase.Total) int { return cmp.Compare(a.Datapoint, b.Datapoint) })
	return counts, nil
}

// checkList rejects a report or day List cannot serve, with a clear reason.
func checkList(r purchase.Report, day string) error {
	if !r.Valid() {
		return fmt.Errorf("list: unknown report %q", r)
	}
	if err := r.CheckDay(day); err != nil {
		return fmt.Errorf("list %s: %w", r, err)
	}
	return nil
}

// batchGet reads the counts of up to maxBatchGet datapoints, retrying
// unprocessed keys with capped exponential backoff and full jitter.
func (s *Store) batchGet(ctx context.Context, datapoints []string) ([]purchase.Total, error) {
	keys := make([]map[string]types.AttributeValue, len(datapoints))
	for i, d := range datapoints {
		keys[i] = datapointKey(d)
	}
	request := map[string]types.KeysAndAttributes{s.table: {
		Keys:                     keys,
		ProjectionExpression:     aws.String("#d, #e"),
		ExpressionAttributeNames: map[string]string{"#d": AttrDatapoint, "#e": AttrEvents},
	}}
	counts := make([]purchase.Total, 0, len(datapoints))
	for attempt := 1; ; attempt++ {
		out, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request}, s.withRetryer)
		if err != nil {
			return nil, fmt.Errorf("batch get %d datapoints: %w", len(datapoints), err)
		}
		for _, item := range out.Responses[s.table] {
			c, err := countOf(item)
			if err != nil {
				return nil, err
			}
			if c.Events != 0 { // only a compensated failure leaves a zero
				counts = append(counts, c)
			}
		}
		rest, ok := out.UnprocessedKeys[s.table]
		if !ok || len(rest.Keys) == 0 {
			return counts, nil
		}
		if attempt >= s.maxAttempts {
			return nil, fmt.Errorf("batch get: %d of %d datapoints still unprocessed after %d attempts", len(rest.Keys), len(datapoints), attempt)
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
	if e, ok := item[AttrEvents].(*types.AttributeValueMemberN); ok {
		n, err := strconv.ParseInt(e.Value, 10, 64)
		if err != nil {
			return purchase.Total{}, fmt.Errorf("%s: events %q: %w", d.Value, e.Value, err)
		}
		c.Events = n
	}
	return c, nil
}
