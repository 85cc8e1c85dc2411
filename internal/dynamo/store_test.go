package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/golden"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/testenv"
)

// mustGoldenDeliveries reads testdata/deliveries.json: SQS message ids and
// purchase event bodies.
func mustGoldenDeliveries(t *testing.T) []purchase.Delivery {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "deliveries.json"))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []struct {
		MessageID string `json:"messageId"`
		Body      string `json:"body"`
	}
	if err := json.Unmarshal(raw, &msgs); err != nil {
		t.Fatalf("testdata/deliveries.json: %v", err)
	}
	ds := make([]purchase.Delivery, len(msgs))
	for i, m := range msgs {
		ds[i] = mustDelivery(t, m.MessageID, m.Body)
	}
	return ds
}

// TestReader counts the golden deliveries in plain mode and lists every
// report on DynamoDB Local, against testdata/reports.golden.json.
func TestReader(t *testing.T) {
	testenv.DynamoDBLocal(t)
	c := mustClient(t)
	table, _ := testenv.Tables(t, c, false)
	s := dynamo.New(c, table, fastRetry())
	ctx := context.Background()
	ds := mustGoldenDeliveries(t)
	res := mustCount(t, s, ds)
	if len(res.Failed) > 0 || len(res.Duplicates) > 0 {
		t.Fatalf("Count: failed %v, duplicates %v", res.Failed, res.Duplicates)
	}
	if want := len(truth(ds)); res.Datapoints != want {
		t.Errorf("Datapoints = %d, want %d (one update per distinct datapoint)", res.Datapoints, want)
	}
	if res.WriteUnits < float64(res.Datapoints) {
		t.Errorf("WriteUnits = %v, want at least one per datapoint update (%d)", res.WriteUnits, res.Datapoints)
	}

	got := map[string][]purchase.Total{}
	for _, r := range purchase.Reports() {
		days := []string{""}
		if r.Daily() {
			days = []string{"2011-12-03", "2011-12-04"}
		}
		for _, day := range days {
			counts, err := s.List(ctx, r, day)
			if err != nil {
				t.Fatalf("List(%s, %q): %v", r, day, err)
			}
			got[strings.TrimSuffix(string(r)+"|"+day, "|")] = counts
		}
	}
	golden.JSON(t, "testdata/reports.golden.json", got)
	mustMatch(t, s, truth(ds))

	t.Run("get", func(t *testing.T) {
		c, err := s.Get(ctx, "2011-12-03:10|10-50|SLICE_IT")
		if err != nil || c != (purchase.Total{Datapoint: "2011-12-03:10|10-50|SLICE_IT", Events: 2}) {
			t.Errorf("Get = %+v, %v; want 2 events", c, err)
		}
		if _, err := s.Get(ctx, "2011-12-03:10|500+|SLICE_IT"); !errors.Is(err, purchase.ErrNotFound) {
			t.Errorf("Get of a datapoint never counted: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("empty day", func(t *testing.T) {
		counts, err := s.List(ctx, purchase.DayMerchant, "2011-12-05")
		if err != nil || len(counts) != 0 {
			t.Errorf("List of a day without purchases = %v, %v; want none", counts, err)
		}
	})
	for _, tc := range []struct {
		name   string
		report purchase.Report
		day    string
		want   string
	}{
		{"daily without day", purchase.HourBracket, "", "needs a day"},
		{"daily with bad day", purchase.DayMerchant, "2011-12-3", "not a date"},
		{"daily with impossible day", purchase.HourBracketMethod, "2011-02-30", "not a date"},
		{"all-time with day", purchase.BracketMethod, "2011-12-03", "takes no day"},
		{"unknown report", purchase.Report("day-bracket"), "", "unknown report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.List(ctx, tc.report, tc.day)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("List(%q, %q) error = %v, want one containing %q", tc.report, tc.day, err, tc.want)
			}
		})
	}
}

// TestPlain checks plain mode: one ADD per distinct
// datapoint, and at-least-once (a redelivered batch counts again).
func TestPlain(t *testing.T) {
	testenv.DynamoDBLocal(t)
	c := mustClient(t)
	table, _ := testenv.Tables(t, c, false)
	s := dynamo.New(c, table, fastRetry(), dynamo.WithConcurrency(4))
	ds := generate(1, 400)
	res := mustCount(t, s, ds)
	want := truth(ds)
	if len(res.Failed) > 0 || res.Datapoints != len(want) || res.Transactions != 0 {
		t.Fatalf("Count = %+v, want %d datapoints, no failures, no transactions", res, len(want))
	}
	mustMatch(t, s, want)

	mustCount(t, s, ds[:50])
	mustMatch(t, s, truth(ds, ds[:50]))
}

// TestEmptyAdd: an empty call writes nothing and reports nothing, in both
// modes.
func TestEmptyAdd(t *testing.T) {
	testenv.DynamoDBLocal(t)
	c := mustClient(t)
	table, idem := testenv.Tables(t, c, true)
	for _, s := range []*dynamo.Store{dynamo.New(c, table), dynamo.New(c, table, dynamo.WithIdempotencyTable(idem))} {
		res, err := s.Add(context.Background(), nil)
		if err != nil || !reflect.DeepEqual(res, purchase.AddResult{}) {
			t.Errorf("Add(nil) = %+v, %v; want a zero result", res, err)
		}
	}
}

// TestExactlyOnce counts batches larger than one transaction on DynamoDB Local
// and delivers whole batches and single messages again: counts stay exact and
// the redelivered messages are reported as duplicates.
func TestExactlyOnce(t *testing.T) {
	testenv.DynamoDBLocal(t)
	c := mustClient(t)
	table, idem := testenv.Tables(t, c, true)
	s := dynamo.New(c, table, dynamo.WithIdempotencyTable(idem), dynamo.WithMaxTransactionItems(20), dynamo.WithConcurrency(4), fastRetry())
	ds := generate(2, 300)
	first, second := ds[:200], ds[200:]

	res := mustCount(t, s, first)
	if len(res.Failed) > 0 || len(res.Duplicates) > 0 {
		t.Fatalf("first batch: failed %v, duplicates %v", res.Failed, res.Duplicates)
	}
	if res.WriteUnits <= 0 {
		t.Errorf("first batch: WriteUnits = %v, want the consumed capacity of its transactions", res.WriteUnits)
	}
	if res.Transactions < 200/19 {
		t.Errorf("first batch: %d transactions; 200 messages need at least %d of 20 items", res.Transactions, 200/19)
	}
	mustMatch(t, s, truth(first))

	t.Run("whole batch again", func(t *testing.T) {
		res := mustCount(t, s, first)
		if got := sorted(res.Duplicates); !slices.Equal(got, sorted(ids(first))) || len(res.Failed) > 0 || res.Transactions != 0 {
			t.Fatalf("redelivered batch: %d duplicates, failed %v, %d transactions; want all %d duplicates", len(got), res.Failed, res.Transactions, len(first))
		}
		mustMatch(t, s, truth(first))
	})

	t.Run("single messages again within new ones", func(t *testing.T) {
		batch := append(slices.Clone(second), first[5], first[150])
		res := mustCount(t, s, batch)
		want := sorted([]string{first[5].Identity, first[150].Identity})
		if got := sorted(res.Duplicates); !slices.Equal(got, want) || len(res.Failed) > 0 {
			t.Fatalf("duplicates %v, failed %v; want duplicates %v", got, res.Failed, want)
		}
		mustMatch(t, s, truth(ds))
	})
}

// TestMissingTable: a table that does not exist is an error, not a list of
// failed deliveries.
func TestMissingTable(t *testing.T) {
	testenv.DynamoDBLocal(t)
	c := mustClient(t)
	table, idem := testenv.Tables(t, c, true)
	for _, tc := range []struct {
		name string
		s    *dynamo.Store
	}{
		{"plain", dynamo.New(c, "no-such-table", fastRetry())},
		{"exactly-once, no datapoints table", dynamo.New(c, "no-such-table", dynamo.WithIdempotencyTable(idem), fastRetry())},
		{"exactly-once, no idempotency table", dynamo.New(c, table, dynamo.WithIdempotencyTable("no-such-table"), fastRetry())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.s.Add(context.Background(), generate(3, 5)); err == nil {
				t.Fatal("Add on a missing table returned no error")
			}
		})
	}
}

// TestCreateTablesTwice: creating existing tables is harmless.
func TestCreateTablesTwice(t *testing.T) {
	testenv.DynamoDBLocal(t)
	c := mustClient(t)
	table, idem := testenv.Tables(t, c, true)
	if err := dynamo.CreateTables(context.Background(), c, table, idem); err != nil {
		t.Fatalf("second CreateTables: %v", err)
	}
}
