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

	"github.com/acmecheckout/reports/internal/purchase"
)

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
// report's (and day's) datapoints and their parts, then reads their live,
// exact counts (main item plus parts, atomically per datapoint). Datapoints
// at zero (left by a compensated failure in plain mode) are omitted.
func (s *Store) List(ctx context.Context, r purchase.Report, day string) ([]purchase.Total, error) {
	if err := checkList(r, day); err != nil {
		return nil, err
	}
	lk := listKey(r, day)
	seen := map[string]bool{}
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
			dp := k.Value
			if main, isPart := mainOfPart(dp); isPart {
				dp = main
			}
			if !seen[dp] {
				seen[dp] = true
				keys = append(keys, dp)
			}
		}
	}

	live, err := s.liveCounts(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", lk, err)
	}
	counts := make([]purchase.Total, 0, len(live))
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
