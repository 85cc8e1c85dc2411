package bench_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/bench"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/testenv"
)

// accountingBatches are two batches whose floors are known by hand: a and b
// share all five datapoints, c shares three with them (hour, bracket and
// method) but has its own merchant, and the second batch repeats a's
// datapoints under a new message id.
func accountingBatches() [][]purchase.Delivery {
	at := time.Date(2024, 3, 1, 10, 15, 0, 0, time.UTC)
	ev := func(merchant string) purchase.Event {
		return purchase.Event{Time: at, Amount: 4285, Method: purchase.SliceIt, MerchantID: merchant}
	}
	m1, m2 := "1bb53ed1-787b-4543-9def-ea18eef7902e", "2cc53ed1-787b-4543-9def-ea18eef7902e"
	return [][]purchase.Delivery{
		{{Identity: "a", Event: ev(m1)}, {Identity: "b", Event: ev(m1)}, {Identity: "c", Event: ev(m2)}},
		{{Identity: "d", Event: ev(m1)}},
	}
}

// TestFloors checks the floors against the hand count: plain 7 + 5 distinct
// datapoints; exactly once 2 × (3 markers + 7) + 2 × (1 + 5); a transaction
// of 2 markers and 3 updates of 2 distinct items, 2 × (2 + 2).
func TestFloors(t *testing.T) {
	batches := accountingBatches()
	for _, tc := range []struct {
		name string
		got  int64
		want int64
	}{
		{"plain floor", bench.PlainFloor(batches), 12},
		{"exactly-once bound", bench.ExactlyOnceBound(batches), 32},
		{"transaction floor", mustTransactionFloor(t, "testdata/transaction.json"), 8},
		{"naive plain", bench.NaiveUnits(4, false), 20},
		{"naive exactly-once", bench.NaiveUnits(4, true), 48},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %d write units, want %d", tc.got, tc.want)
			}
		})
	}
}

// TestWriteUnitAccounting counts the hand-made batches through the proxy with
// the store and with the naive design, in both modes: the proxy must count
// exactly the floor for the store (no batch needs two transactions) and
// exactly five writes or one six-item transaction per event for the naive
// design, and every design must count the events right.
func TestWriteUnitAccounting(t *testing.T) {
	db := mustCounted(t, nil)
	batches := accountingBatches()
	truth := purchase.Increments{}
	for _, batch := range batches {
		for _, d := range batch {
			truth.Add(d.Event)
		}
	}
	for _, tc := range []struct {
		name        string
		exactlyOnce bool
		naive       bool
		want        int64
	}{
		{"ours plain", false, false, bench.PlainFloor(batches)},
		{"ours exactly-once", true, false, bench.ExactlyOnceBound(batches)},
		{"naive plain", false, true, bench.NaiveUnits(4, false)},
		{"naive exactly-once", true, true, bench.NaiveUnits(4, true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			table, idem := testenv.Tables(t, db.direct, tc.exactlyOnce)
			var c purchase.Counter = dynamo.New(db.client, table, dynamo.WithIdempotencyTable(idem),
				dynamo.WithLogger(slog.New(slog.DiscardHandler)))
			if tc.naive {
				c = bench.NewNaiveWriter(db.client, table, idem)
			}
			db.proxy.Reset()
			for _, batch := range batches {
				if res, err := c.Add(ctx, batch); err != nil || len(res.Failed) > 0 {
					t.Fatalf("count: %v %v", err, res.Failed)
				}
			}
			if got := db.proxy.Stats().TotalWriteUnits(); got != tc.want {
				t.Errorf("proxy counted %d write units, want %d", got, tc.want)
			}
			reader := dynamo.New(db.direct, table)
			for dp, want := range truth {
				got, err := reader.Get(ctx, dp.Key)
				if err != nil {
					t.Fatalf("get %s: %v", dp.Key, err)
				}
				if got.Events != want {
					t.Errorf("%s = %d, want %d", dp.Key, got.Events, want)
				}
			}
		})
	}
}

func mustTransactionFloor(t *testing.T, path string) int64 {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	units, err := bench.TransactionFloor(body)
	if err != nil {
		t.Fatal(err)
	}
	return units
}
