package lake_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/acmecheckout/reports/internal/lake"
	"github.com/acmecheckout/reports/internal/markets"
)

// yields is USTREASURY/YIELD (long table: one row per column and date),
// with a missing value.
func yields() markets.Series {
	return series(markets.InterestRates, "USTREASURY", "YIELD", []string{"1_mo", "10_yr"},
		obs(day(2016, 12, 30), "0.44", "2.45"),
		obs(day(2017, 1, 3), "0.52", "2.45"),
		obs(day(2017, 1, 4), "0.49", ""),
	)
}

func TestNewest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, ok, err := f.lake.Newest(ctx, markets.Currency, "CURRFX", "EURUSD"); ok || err != nil {
		t.Errorf("Newest of an empty lake: ok %v, %v; want false, nil", ok, err)
	}
	f.upsert(t, eurusd())
	f.upsert(t, series(markets.Currency, "CURRFX", "GBPUSD", []string{"rate"}, obs(day(2018, 5, 2), "1.36")))
	if d, ok, err := f.lake.Newest(ctx, markets.Currency, "CURRFX", "EURUSD"); !ok || err != nil || d != day(2017, 1, 3) {
		t.Errorf("Newest = %v, %v, %v; want 2017-01-03", d, ok, err)
	}
	if _, _, err := f.lake.Newest(ctx, "bonds", "X", "Y"); !errors.Is(err, lake.ErrInvalidQuery) {
		t.Errorf("Newest of an unknown job = %v, want ErrInvalidQuery", err)
	}
}

func TestLatest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.upsert(t, eurusd())
	f.upsert(t, series(markets.Currency, "CURRFX", "GBPUSD", []string{"rate"},
		obs(day(2015, 5, 1), "1.51"), obs(day(2015, 5, 4), "1.52")))
	f.upsert(t, yields())
	f.upsert(t, series(markets.InterestRates, "FED", "RIFSPFF_N_D", []string{"value"}, obs(day(2017, 1, 3), "0.66")))

	cases := []struct {
		job  markets.Job
		want [][]string
	}{
		{markets.Currency, [][]string{
			{"CURRFX", "EURUSD", "EUR", "2017-01-03", "1.0405", "1.0476", "1.034"},
			{"CURRFX", "GBPUSD", "GBP", "2015-05-04", "1.52", "NULL", "NULL"},
		}},
		{markets.InterestRates, [][]string{
			{"FED", "RIFSPFF_N_D", "2017-01-03", "value", "0.66"},
			{"USTREASURY", "YIELD", "2017-01-04", "10_yr", "NULL"},
			{"USTREASURY", "YIELD", "2017-01-04", "1_mo", "0.49"},
		}},
		{markets.Equities, nil},
	}
	for _, tc := range cases {
		b, err := f.lake.Latest(ctx, tc.job)
		if err != nil {
			t.Fatalf("Latest(%s): %v", tc.job, err)
		}
		want, _ := tc.job.Table()
		if !slices.Equal(b.Columns, want.ColumnNames()) || b.Table.Name != want.Name {
			t.Errorf("Latest(%s) columns %v, want %v", tc.job, b.Columns, want.ColumnNames())
		}
		if got := texts(b); !slices.EqualFunc(got, tc.want, slices.Equal) {
			t.Errorf("Latest(%s) =\n%v\nwant\n%v", tc.job, got, tc.want)
		}
	}
	if _, err := f.lake.Latest(ctx, "bonds"); !errors.Is(err, lake.ErrInvalidQuery) {
		t.Errorf("Latest(bonds) = %v, want ErrInvalidQuery", err)
	}
}

func TestHistory(t *testing.T) {
	f := newFixture(t)
	f.upsert(t, yields())
	// The same ticker in another dataset comes after, by the table's key.
	f.upsert(t, series(markets.InterestRates, "ZZTREASURY", "YIELD", []string{"value"}, obs(day(2016, 6, 1), "1")))
	f.upsert(t, series(markets.InterestRates, "FED", "RIFSPFF_N_D", []string{"value"}, obs(day(2017, 1, 3), "0.66")))

	all := [][]string{
		{"USTREASURY", "YIELD", "2016-12-30", "10_yr", "2.45"},
		{"USTREASURY", "YIELD", "2016-12-30", "1_mo", "0.44"},
		{"USTREASURY", "YIELD", "2017-01-03", "10_yr", "2.45"},
		{"USTREASURY", "YIELD", "2017-01-03", "1_mo", "0.52"},
		{"USTREASURY", "YIELD", "2017-01-04", "10_yr", "NULL"},
		{"USTREASURY", "YIELD", "2017-01-04", "1_mo", "0.49"},
		{"ZZTREASURY", "YIELD", "2016-06-01", "value", "1"},
	}
	if got := history(t, f.lake, markets.InterestRates, "YIELD", day(2000, 1, 1), day(2030, 1, 1)); !slices.EqualFunc(got, all, slices.Equal) {
		t.Errorf("paged history =\n%v\nwant\n%v", got, all)
	}
	if got := history(t, f.lake, markets.InterestRates, "YIELD", day(2016, 12, 30), day(2017, 1, 3)); !slices.EqualFunc(got, all[:4], slices.Equal) {
		t.Errorf("history 2016-12-30..2017-01-03 =\n%v\nwant\n%v", got, all[:4])
	}

	ctx := context.Background()
	bad := []struct {
		name  string
		after []markets.Value
		limit int
		start markets.Date
	}{
		{"zero limit", nil, 0, day(2017, 1, 1)},
		{"short cursor", []markets.Value{markets.TextValue("USTREASURY")}, 10, day(2017, 1, 1)},
		{"bad cursor date", []markets.Value{markets.TextValue("A"), markets.TextValue("B"), markets.TextValue("2017-13-01"), markets.TextValue("k")}, 10, day(2017, 1, 1)},
		{"bad start", nil, 10, day(2017, 2, 30)},
	}
	for _, tc := range bad {
		if _, err := f.lake.History(ctx, markets.InterestRates, "YIELD", tc.start, day(2018, 1, 1), tc.after, tc.limit); !errors.Is(err, lake.ErrInvalidQuery) {
			t.Errorf("%s: History = %v, want ErrInvalidQuery", tc.name, err)
		}
	}
}
