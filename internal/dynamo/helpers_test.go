package dynamo_test

import (
	"cmp"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/testenv"
)

// backend is a DynamoDB implementation the tests run against.
type backend struct {
	name  string
	start func(testing.TB) string
	// fixIndex, when set, repairs the emulator's byListKey index before a
	// List (see minidynReindex).
	fixIndex func(testing.TB, *dynamodb.Client, string)
}

// minidyn supports transactions; dynalite is stricter but has none.
var (
	minidyn  = backend{"minidyn", testenv.Minidyn, minidynReindex}
	dynalite = backend{"dynalite", testenv.Dynalite, nil}
)

// beforeList prepares the backend for List calls on table.
func (b backend) beforeList(t testing.TB, c *dynamodb.Client, table string) {
	t.Helper()
	if b.fixIndex != nil {
		b.fixIndex(t, c, table)
	}
}

// fastRetry keeps the tests quick: the backoff shape is the production one,
// with smaller delays.
func fastRetry() dynamo.Option { return dynamo.WithRetry(4, time.Millisecond, 5*time.Millisecond) }

// mustClient builds a client the standard way, so it finds the emulator
// through AWS_ENDPOINT_URL_DYNAMODB.
func mustClient(t testing.TB) *dynamodb.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return dynamodb.NewFromConfig(cfg, noChecksum)
}

// noChecksum turns off the SDK's CRC32 check of responses: minidyn sends no
// X-Amz-Crc32 header, which the SDK (v1.73.1) checks as 0 and logs a WARN for
// on every response.
func noChecksum(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true }

// mustDirectClient builds a client that talks to endpoint, bypassing any
// proxy AWS_ENDPOINT_URL_DYNAMODB points at.
func mustDirectClient(t testing.TB, endpoint string) *dynamodb.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return dynamodb.NewFromConfig(cfg, noChecksum, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// mustDelivery parses a purchase event body as the aggregator does.
func mustDelivery(t testing.TB, id, body string) purchase.Delivery {
	t.Helper()
	e, err := purchase.Parse([]byte(body))
	if err != nil {
		t.Fatalf("parse %s: %v", body, err)
	}
	return purchase.Delivery{MessageID: id, Event: e}
}

// generate returns n seeded deliveries spread over six hours either side of
// midnight UTC (two days), seven merchants, all methods and brackets.
func generate(seed uint64, n int) []purchase.Delivery {
	return generateSpread(seed, n, 7, 6*time.Hour)
}

// generateSpread returns n seeded deliveries from the given number of
// merchants, spread over span from 21:00 UTC.
func generateSpread(seed uint64, n, merchantCount int, span time.Duration) []purchase.Delivery {
	rng := mrand.New(mrand.NewPCG(seed, 7))
	merchants := make([]string, merchantCount)
	for i := range merchants {
		merchants[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", seed, i)
	}
	base := time.Date(2024, 3, 9, 21, 0, 0, 0, time.UTC)
	amounts := []int64{0, 999, 1000, 4999, 5000, 9999, 10000, 49999, 50000, 1_000_000}
	ds := make([]purchase.Delivery, n)
	for i := range ds {
		ds[i] = purchase.Delivery{
			MessageID: fmt.Sprintf("%d-msg-%05d", seed, i),
			Event: purchase.Event{
				Time:       base.Add(time.Duration(rng.Int64N(int64(span)))),
				Amount:     amounts[rng.IntN(len(amounts))] + rng.Int64N(2),
				Method:     purchase.Methods()[rng.IntN(3)],
				MerchantID: merchants[rng.IntN(len(merchants))],
			},
		}
	}
	return ds
}

// truth counts deliveries the way the store must.
func truth(ds ...[]purchase.Delivery) purchase.Counts {
	c := purchase.Counts{}
	for _, batch := range ds {
		for _, d := range batch {
			c.Add(d.Event)
		}
	}
	return c
}

// listing is a report's listing for one day ("" for all-time reports).
type listing struct {
	report purchase.Report
	day    string
}

// expectedListings groups counts the way List returns them.
func expectedListings(c purchase.Counts) map[listing][]purchase.Count {
	out := map[listing][]purchase.Count{}
	for dp, n := range c {
		l := listing{dp.Report, dp.Day()}
		out[l] = append(out[l], purchase.Count{Datapoint: dp.Key, Events: n})
	}
	for _, counts := range out {
		slices.SortFunc(counts, func(a, b purchase.Count) int { return cmp.Compare(a.Datapoint, b.Datapoint) })
	}
	return out
}

// mustMatch checks that every report listing, and a Get of every datapoint,
// equals want exactly.
func mustMatch(t testing.TB, r purchase.Reader, want purchase.Counts) {
	t.Helper()
	ctx := context.Background()
	for l, counts := range expectedListings(want) {
		got, err := r.List(ctx, l.report, l.day)
		if err != nil {
			t.Fatalf("List(%s, %q): %v", l.report, l.day, err)
		}
		if !slices.Equal(got, counts) {
			t.Fatalf("List(%s, %q):\n got %v\nwant %v", l.report, l.day, got, counts)
		}
	}
	for dp, n := range want {
		got, err := r.Get(ctx, dp.Key)
		if err != nil {
			t.Fatalf("Get(%s): %v", dp.Key, err)
		}
		if got.Events != n {
			t.Fatalf("Get(%s) = %d events, want %d", dp.Key, got.Events, n)
		}
	}
}

// mustCount counts and fails the test on an error return.
func mustCount(t testing.TB, s *dynamo.Store, ds []purchase.Delivery) purchase.CountResult {
	t.Helper()
	res, err := s.Count(context.Background(), ds)
	if err != nil {
		t.Fatalf("Count(%d deliveries): %v", len(ds), err)
	}
	return res
}

func ids(ds []purchase.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.MessageID
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// minidynReindex works around a minidyn v0.8.2 bug, in tests only: an item
// created by UpdateItem (or a transaction's Update) replaces another item's
// entry in a global secondary index instead of adding its own
// (core/index.go updateData), so Query on byListKey misses datapoints.
// Deleting every item and putting it back rebuilds the index through PutItem,
// which maintains it correctly. DynamoDB and dynalite need no such thing.
func minidynReindex(t testing.TB, c *dynamodb.Client, table string) {
	t.Helper()
	ctx := context.Background()
	var items []map[string]types.AttributeValue
	pages := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("reindex: scan %s: %v", table, err)
		}
		items = append(items, page.Items...)
	}
	for _, item := range items {
		key := map[string]types.AttributeValue{dynamo.AttrDatapoint: item[dynamo.AttrDatapoint]}
		if _, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key}); err != nil {
			t.Fatalf("reindex: delete: %v", err)
		}
	}
	for _, item := range items {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatalf("reindex: put: %v", err)
		}
	}
}
