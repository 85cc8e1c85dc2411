package dynamo_test

import (
	"cmp"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/purchase"
)

// fastRetry keeps the tests quick: the backoff shape is the production one,
// with smaller delays.
func fastRetry() dynamo.Option { return dynamo.WithRetry(4, time.Millisecond, 5*time.Millisecond) }

// mustClient builds a client the standard way, so it finds DynamoDB Local,
// or the fault proxy in front of it, through AWS_ENDPOINT_URL_DYNAMODB.
func mustClient(t testing.TB) *dynamodb.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return dynamodb.NewFromConfig(cfg)
}

// mustDelivery parses a purchase event body as the aggregator does.
func mustDelivery(t testing.TB, id, body string) purchase.Delivery {
	t.Helper()
	e, err := purchase.Parse([]byte(body))
	if err != nil {
		t.Fatalf("parse %s: %v", body, err)
	}
	return purchase.Delivery{Identity: id, Event: e}
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
			Identity: fmt.Sprintf("%d-msg-%05d", seed, i),
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
func truth(ds ...[]purchase.Delivery) purchase.Increments {
	c := purchase.Increments{}
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
func expectedListings(c purchase.Increments) map[listing][]purchase.Total {
	out := map[listing][]purchase.Total{}
	for dp, n := range c {
		l := listing{dp.Report, dp.Day()}
		out[l] = append(out[l], purchase.Total{Datapoint: dp.Key, Events: n})
	}
	for _, counts := range out {
		slices.SortFunc(counts, func(a, b purchase.Total) int { return cmp.Compare(a.Datapoint, b.Datapoint) })
	}
	return out
}

// mustMatch checks that every report listing, and a Get of every datapoint,
// equals want exactly.
func mustMatch(t testing.TB, r purchase.Reader, want purchase.Increments) {
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

// distinct keeps the first delivery of each identity.
func distinct(ds []purchase.Delivery) []purchase.Delivery {
	seen := map[string]bool{}
	out := ds[:0:0]
	for _, d := range ds {
		if !seen[d.Identity] {
			seen[d.Identity] = true
			out = append(out, d)
		}
	}
	return out
}

// mustCount adds and fails the test on an error return.
func mustCount(t testing.TB, s *dynamo.Store, ds []purchase.Delivery) purchase.AddResult {
	t.Helper()
	res, err := s.Add(context.Background(), ds)
	if err != nil {
		t.Fatalf("Add(%d deliveries): %v", len(ds), err)
	}
	return res
}

func ids(ds []purchase.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Identity
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
