package dynamo_test

import (
	"bytes"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/faultproxy"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/testenv"
)

// partWrites counts the transactions that wrote a part, seen by the proxy.
type partWrites struct{ n atomic.Int64 }

func (p *partWrites) observe(op string, body []byte) {
	if op == "TransactWriteItems" && bytes.Contains(body, []byte(`"~part|`)) && bytes.Contains(body, []byte(`"Put"`)) {
		p.n.Add(1)
	}
}

// invocations counts batches with several stores at once, one goroutine per
// store as concurrent Lambda invocations each with their own store, taking
// batches from one queue. Deliveries a call reports failed go back on the
// queue; with redeliver, a batch that succeeded is sometimes delivered again
// too (SQS at least once). It returns every delivery reported a duplicate.
func invocations(t *testing.T, stores []*dynamo.Store, batches [][]purchase.Delivery, redeliver bool, seed uint64) []string {
	t.Helper()
	var mu sync.Mutex
	queue := slices.Clone(batches)
	inFlight := 0
	rng := mrand.New(mrand.NewPCG(seed, 1))
	var duplicates []string
	next := func() ([]purchase.Delivery, bool) {
		for {
			mu.Lock()
			if len(queue) > 0 {
				b := queue[0]
				queue = queue[1:]
				inFlight++
				mu.Unlock()
				return b, true
			}
			done := inFlight == 0
			mu.Unlock()
			if done {
				return nil, false
			}
			time.Sleep(time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(stores))
	for _, s := range stores {
		wg.Go(func() {
			for {
				batch, ok := next()
				if !ok {
					return
				}
				res, err := s.Add(context.Background(), batch)
				if err != nil {
					errs <- err
					return
				}
				var failed []purchase.Delivery
				for _, d := range batch {
					if _, ok := res.Failed[d.Identity]; ok {
						failed = append(failed, d)
					}
				}
				mu.Lock()
				duplicates = append(duplicates, res.Duplicates...)
				inFlight--
				if len(failed) > 0 {
					queue = append(queue, failed)
				}
				if redeliver && rng.IntN(5) == 0 {
					queue = append(queue, batch)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Add: %v", err)
	}
	return duplicates
}

// newStores returns n exactly-once stores (n writers) over the tables.
func newStores(t *testing.T, n int, table, idem string, opts ...dynamo.Option) []*dynamo.Store {
	t.Helper()
	stores := make([]*dynamo.Store, n)
	for i := range stores {
		stores[i] = dynamo.New(mustClient(t), table, append([]dynamo.Option{dynamo.WithIdempotencyTable(idem),
			dynamo.WithRetry(30, time.Millisecond, 20*time.Millisecond)}, opts...)...)
	}
	return stores
}

// pendingParts returns the part items of the table, read directly.
func pendingParts(t *testing.T, c *dynamodb.Client, table string) []purchase.Total {
	t.Helper()
	var parts []purchase.Total
	for _, item := range testenv.ScanCounts(t, c, table) {
		if strings.HasPrefix(item.Datapoint, "~part|") {
			parts = append(parts, item)
		}
	}
	return parts
}

// mustSettled checks that no part is pending and every main item holds its
// exact count.
func mustSettled(t *testing.T, c *dynamodb.Client, table string, want purchase.Increments) {
	t.Helper()
	if parts := pendingParts(t, c, table); len(parts) > 0 {
		t.Fatalf("%d parts still pending after settling: %v", len(parts), parts)
	}
	mustMatch(t, dynamo.New(c, table, dynamo.WithoutParts()), want)
	got := testenv.ScanCounts(t, c, table)
	if len(got) != len(want) {
		t.Fatalf("the table has %d items, want the %d datapoints", len(got), len(want))
	}
	for _, g := range got {
		dp, err := purchase.ParseDatapoint(g.Datapoint)
		if err != nil || want[dp] != g.Events {
			t.Fatalf("main item %s = %d, want %d (%v)", g.Datapoint, g.Events, want[dp], err)
		}
	}
}

// TestPartsConcurrentWriters: four writers count at once through a proxy
// that emulates DynamoDB's latency and conflict rule, with SQS-like
// redeliveries of batches that succeeded. Contended datapoints go to parts;
// readers answer the exact counts while parts are pending; every redelivered
// purchase is a duplicate exactly; an empty Add settles every part into its
// main item, exactly; a second one is a no-op.
func TestPartsConcurrentWriters(t *testing.T) {
	var seen partWrites
	p, direct := mustProxy(t, faultproxy.Config{
		Conflicts: true,
		Hold:      5 * time.Millisecond,
		Latency:   faultproxy.DynamoDBLatency(),
		Decide:    func(op string, body []byte) faultproxy.Fault { seen.observe(op, body); return faultproxy.None },
	})
	table, idem := testenv.Tables(t, direct, true)
	ds := generateSpread(21, 800, 12, time.Hour)
	stores := newStores(t, 4, table, idem)
	dups := invocations(t, stores, slices.Collect(slices.Chunk(ds, 40)), true, 21)
	if seen.n.Load() == 0 {
		t.Fatalf("no transaction wrote a part (%d conflicts): the test does not test parts", p.Stats().Faults[faultproxy.Conflict])
	}
	want := truth(ds)
	if len(pendingParts(t, direct, table)) == 0 {
		t.Log("every part was folded by its writer already")
	}
	mustMatch(t, dynamo.New(direct, table), want) // live counts: main + parts
	t.Logf("%d conflicts, %d transactions with parts, %d duplicates, %d parts pending",
		p.Stats().Faults[faultproxy.Conflict], seen.n.Load(), len(dups), len(pendingParts(t, direct, table)))

	if _, err := stores[0].Add(context.Background(), nil); err != nil {
		t.Fatalf("settle: %v", err)
	}
	mustSettled(t, direct, table, want)
	res, err := stores[1].Fold(context.Background())
	if err != nil || res != (dynamo.FoldResult{}) {
		t.Errorf("a second fold: %+v, %v; want a no-op", res, err)
	}
}

// TestPartsUnderFaults: the same with faults on top of the conflict rule:
// throttling, 500s, and writes applied whose responses are lost (the SDK
// retries them), while failed deliveries and some that succeeded are
// delivered again. Each purchase is counted exactly once, parts included.
func TestPartsUnderFaults(t *testing.T) {
	var seen partWrites
	var mu sync.Mutex
	rng := mrand.New(mrand.NewPCG(22, 2))
	faults := []faultproxy.Fault{faultproxy.Throttle, faultproxy.InternalError, faultproxy.LostResponse, faultproxy.Conflict}
	p, direct := mustProxy(t, faultproxy.Config{
		Conflicts: true,
		Hold:      5 * time.Millisecond,
		Decide: func(op string, body []byte) faultproxy.Fault {
			seen.observe(op, body)
			mu.Lock()
			defer mu.Unlock()
			if rng.Float64() < 0.15 {
				return faults[rng.IntN(len(faults))]
			}
			return faultproxy.None
		},
	})
	table, idem := testenv.Tables(t, direct, true)
	ds := generateSpread(22, 1200, 10, time.Hour)
	stores := newStores(t, 4, table, idem)
	invocations(t, stores, slices.Collect(slices.Chunk(ds, 30)), true, 22)
	if seen.n.Load() == 0 {
		t.Fatal("no transaction wrote a part: the test does not test parts")
	}
	st := p.Stats()
	t.Logf("faults %v, %d transactions with parts", st.Faults, seen.n.Load())
	for _, f := range faults {
		if st.Faults[f] == 0 {
			t.Fatalf("no %s fault was injected (faults %v): the test does not test it", f, st.Faults)
		}
	}
	want := truth(ds)
	for {
		res, err := stores[2].Fold(context.Background())
		if err != nil {
			t.Fatalf("fold: %v", err)
		}
		if res.Left == 0 {
			break
		}
	}
	// A fold answered by a lost response was applied: what is left must
	// still be exact, read with faults out of the way.
	mustSettled(t, direct, table, want)
}

// TestFoldRacesWriters: two folders fold in a loop (as the schedule and
// `reports fold` may at once) while four writers keep adding to their parts.
// The fold's condition makes it exact: the counts read at any time and after
// the last fold are exact.
func TestFoldRacesWriters(t *testing.T) {
	var seen partWrites
	p, direct := mustProxy(t, faultproxy.Config{
		Conflicts: true,
		Hold:      5 * time.Millisecond,
		Latency:   faultproxy.DynamoDBLatency(),
		Decide:    func(op string, body []byte) faultproxy.Fault { seen.observe(op, body); return faultproxy.None },
	})
	table, idem := testenv.Tables(t, direct, true)
	ds := generateSpread(23, 800, 8, time.Hour)
	stores := newStores(t, 4, table, idem)
	folder := dynamo.New(mustClient(t), table, dynamo.WithIdempotencyTable(idem), dynamo.WithRetry(30, time.Millisecond, 20*time.Millisecond))

	stop := make(chan struct{})
	var folded atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := folder.Fold(context.Background())
				if err != nil {
					t.Errorf("fold: %v", err)
					return
				}
				folded.Add(int64(res.Folded))
			}
		})
	}
	invocations(t, stores, slices.Collect(slices.Chunk(ds, 40)), false, 23)
	close(stop)
	wg.Wait()
	if seen.n.Load() == 0 {
		t.Fatal("no transaction wrote a part: the test does not test the fold racing writers")
	}
	t.Logf("%d conflicts, %d transactions with parts, %d parts folded by the racing folds",
		p.Stats().Faults[faultproxy.Conflict], seen.n.Load(), folded.Load())
	want := truth(ds)
	mustMatch(t, dynamo.New(direct, table), want)
	if _, err := folder.Add(context.Background(), nil); err != nil {
		t.Fatalf("settle: %v", err)
	}
	mustSettled(t, direct, table, want)
}

// TestPartGroups: every datapoint's part group lists it among its members,
// and every member has that group; a part's key is never a datapoint of
// SPEC §2, so a reader of main items never takes a part for a datapoint; and
// the largest part a group can make stays under 1 KB, one write unit, by
// DynamoDB's item size rule (names and values in bytes, a number 1 byte per
// two significant digits plus 1).
func TestPartGroups(t *testing.T) {
	e := purchase.Event{Time: time.Date(2011, 12, 3, 10, 15, 30, 0, time.UTC), Amount: 4285, Method: purchase.SliceIt,
		MerchantID: "1bb53ed1-787b-4543-9def-ea18eef7902e"}
	groups := map[purchase.Report]string{}
	for _, dp := range e.Datapoints() {
		group := dynamo.PartGroup(dp)
		groups[dp.Report] = group
		members := dynamo.GroupMembers(group)
		if !slices.Contains(members, dp.Key) {
			t.Errorf("group %s of %s: members %v", group, dp.Key, members)
		}
		for shard := range dynamo.PartShards {
			k := dynamo.PartKey(group, shard)
			if _, err := purchase.ParseDatapoint(k); err == nil {
				t.Errorf("part key %q parses as a datapoint", k)
			}
		}
		const maxCount = 999_999_999_999 // 12 digits: 7 bytes
		size := len(dynamo.AttrDatapoint) + len(dynamo.PartKey(group, 15)) +
			len(dynamo.AttrPartOf) + len(group) +
			len(dynamo.AttrReport) + len(dp.Report) +
			len(dynamo.AttrListKey) + len(string(dp.Report)+"|2011-12-03") +
			len(dynamo.AttrEvents) + 1 + (len(fmt.Sprint(maxCount))+1)/2
		for _, m := range members {
			size += len(m) + 1 + (len(fmt.Sprint(maxCount))+1)/2
		}
		if size >= 1024 {
			t.Errorf("a full part of group %s is %d bytes: more than one write unit", group, size)
		}
	}
	want := map[purchase.Report]string{
		purchase.HourBracket:       "hour-bracket|2011-12-03:10",
		purchase.HourBracketMethod: "hour-bracket-method|2011-12-03:10",
		purchase.BracketMethod:     "bracket-method",
		purchase.DayMerchant:       "day-merchant|2011-12-03|1bb53ed1-787b-4543-9def-ea18eef7902e",
		purchase.MerchantMethod:    "merchant-method|1bb53ed1-787b-4543-9def-ea18eef7902e",
	}
	if fmt.Sprint(groups) != fmt.Sprint(want) {
		t.Errorf("groups %v, want %v", groups, want)
	}
	if got := dynamo.PartKey("bracket-method", 7); got != "~part|bracket-method|07" {
		t.Errorf("PartKey = %q", got)
	}
	for _, bad := range []string{"", "bracket-method|x", "hour-bracket|2011-13-03:10", "nope", "2011-12-03:10|10-50"} {
		if m := dynamo.GroupMembers(bad); m != nil {
			t.Errorf("GroupMembers(%q) = %v, want nil", bad, m)
		}
	}
}

// TestFoldLegacyPart: a part written before parts were grouped (one
// datapoint's count in events, the datapoint in partOf) is still folded into
// its main item, exactly.
func TestFoldLegacyPart(t *testing.T) {
	c := testenv.DynamoDBLocal(t).Client
	table, idem := testenv.Tables(t, c, true)
	const dp = "10-50|SLICE_IT"
	ctx := context.Background()
	for _, put := range []struct {
		key    string
		events string
		partOf string
	}{{dp, "5", ""}, {"~part|" + dp + "|03", "3", dp}} {
		item := map[string]types.AttributeValue{
			dynamo.AttrDatapoint: &types.AttributeValueMemberS{Value: put.key},
			dynamo.AttrEvents:    &types.AttributeValueMemberN{Value: put.events},
			dynamo.AttrReport:    &types.AttributeValueMemberS{Value: "bracket-method"},
			dynamo.AttrListKey:   &types.AttributeValueMemberS{Value: "bracket-method"},
		}
		if put.partOf != "" {
			item[dynamo.AttrPartOf] = &types.AttributeValueMemberS{Value: put.partOf}
		}
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	s := dynamo.New(c, table, dynamo.WithIdempotencyTable(idem))
	res, err := s.Fold(ctx)
	if err != nil || res.Folded != 1 || res.Events != 3 || res.Left != 0 {
		t.Fatalf("fold: %+v, %v; want 1 part of 3 folded", res, err)
	}
	mustSettled(t, c, table, purchase.Increments{{Report: purchase.BracketMethod, Key: dp}: 8})
}
