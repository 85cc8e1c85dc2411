package simulate_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/simulate"
)

func mustGenerate(t *testing.T, cfg simulate.Config) []simulate.Message {
	t.Helper()
	msgs, err := simulate.Generate(cfg)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", cfg, err)
	}
	return msgs
}

func mustParseAll(t *testing.T, msgs []simulate.Message) []purchase.Event {
	t.Helper()
	var evs []purchase.Event
	for i, m := range msgs {
		e, err := purchase.Parse(m.Body)
		switch {
		case m.Valid() && err != nil:
			t.Fatalf("message %d %s: generated as valid, Parse says %v", i, m.Body, err)
		case !m.Valid() && err == nil:
			t.Fatalf("message %d %s: generated as invalid (%s), Parse accepts it", i, m.Body, m.Invalid)
		case m.Valid():
			evs = append(evs, e)
		}
	}
	return evs
}

func TestGenerateIsDeterministic(t *testing.T) {
	cfg := simulate.Config{Seed: 7, Count: 500, Invalid: 5, Merchants: 40, Days: 2}
	a, b := mustGenerate(t, cfg), mustGenerate(t, cfg)
	if !slices.EqualFunc(a, b, func(x, y simulate.Message) bool {
		return bytes.Equal(x.Body, y.Body) && x.Invalid == y.Invalid
	}) {
		t.Fatal("same config gave different messages")
	}
	cfg.Seed = 8
	c := mustGenerate(t, cfg)
	if bytes.Equal(a[0].Body, c[0].Body) && bytes.Equal(a[len(a)-1].Body, c[len(c)-1].Body) {
		t.Fatal("a different seed gave the same messages")
	}
	if !slices.Equal(simulate.Merchants(7, 40), simulate.Merchants(7, 40)) {
		t.Fatal("merchant ids are not stable for a seed")
	}
	if got := simulate.Merchants(7, 3); !slices.Equal(got, simulate.Merchants(7, 40)[:3]) {
		t.Fatalf("merchant ids depend on the merchant count: %v", got)
	}
}

func TestGenerateShape(t *testing.T) {
	start := time.Date(2011, 12, 3, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		cfg  simulate.Config
	}{
		{"one day", simulate.Config{Seed: 1, Count: 2000, Invalid: 7, Merchants: 50, Start: start}},
		{"cost benchmark", simulate.Config{Seed: 42, Count: 3000, Merchants: 300, Days: 3, Start: start}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs := mustGenerate(t, tc.cfg)
			if want := tc.cfg.Count + tc.cfg.Invalid; len(msgs) != want {
				t.Fatalf("got %d messages, want %d", len(msgs), want)
			}
			evs := mustParseAll(t, msgs)
			if len(evs) != tc.cfg.Count {
				t.Fatalf("got %d valid events, want %d", len(evs), tc.cfg.Count)
			}

			days := max(tc.cfg.Days, 1)
			end := start.AddDate(0, 0, days)
			brackets := map[string]int{}
			methods := map[purchase.Method]int{}
			merchants := map[string]int{}
			dayCounts := map[string]int{}
			night, evening := 0, 0
			for i, e := range evs {
				if e.Time.Before(start) || !e.Time.Before(end) {
					t.Fatalf("event %d at %v outside [%v, %v)", i, e.Time, start, end)
				}
				if i > 0 && e.Time.Before(evs[i-1].Time) {
					t.Fatalf("event %d at %v before the previous one at %v", i, e.Time, evs[i-1].Time)
				}
				brackets[purchase.Bracket(e.Amount)]++
				methods[e.Method]++
				merchants[e.MerchantID]++
				dayCounts[purchase.Day(e.Time)]++
				switch h := e.Time.Hour(); {
				case h >= 2 && h < 6:
					night++
				case h >= 18 && h < 22:
					evening++
				}
			}
			for _, b := range []string{"0-10", "10-50", "50-100", "100-500", "500+"} {
				if brackets[b] == 0 {
					t.Errorf("no purchase in bracket %s: %v", b, brackets)
				}
			}
			for _, m := range purchase.Methods() {
				if methods[m] < len(evs)/10 {
					t.Errorf("payment method %s has %d of %d purchases", m, methods[m], len(evs))
				}
			}
			if len(dayCounts) != days {
				t.Errorf("purchases fall on %d days, want %d: %v", len(dayCounts), days, dayCounts)
			}
			if evening < 5*night {
				t.Errorf("not diurnal: %d purchases 18-22h vs %d at 02-06h", evening, night)
			}
			// Heavy tail: the top merchant sells far more than an even share,
			// and the top tenth of merchants takes a large part of sales.
			ids := simulate.Merchants(tc.cfg.Seed, tc.cfg.Merchants)
			even := len(evs) / tc.cfg.Merchants
			if merchants[ids[0]] < 5*even {
				t.Errorf("top merchant has %d purchases, an even share is %d", merchants[ids[0]], even)
			}
			top := 0
			for _, id := range ids[:tc.cfg.Merchants/10] {
				top += merchants[id]
			}
			if top < len(evs)*35/100 {
				t.Errorf("top 10%% of merchants have %d of %d purchases", top, len(evs))
			}
			for id := range merchants {
				if !slices.Contains(ids, id) {
					t.Errorf("purchase for unknown merchant %s", id)
				}
			}
		})
	}
}

func TestGenerateRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  simulate.Config
	}{
		{"negative count", simulate.Config{Count: -1}},
		{"negative invalid", simulate.Config{Invalid: -1}},
		{"negative merchants", simulate.Config{Merchants: -3}},
		{"negative days", simulate.Config{Days: -1}},
		{"negative skew", simulate.Config{Skew: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := simulate.Generate(tc.cfg); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestWriteJSONLines(t *testing.T) {
	msgs := mustGenerate(t, simulate.Config{Seed: 3, Count: 20, Invalid: 3})
	var buf bytes.Buffer
	if err := simulate.WriteJSONLines(&buf, msgs); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != len(msgs) {
		t.Fatalf("got %d lines, want %d", len(lines), len(msgs))
	}
	for i, l := range lines {
		if !bytes.Equal(l, msgs[i].Body) {
			t.Errorf("line %d = %s, want %s", i, l, msgs[i].Body)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg := simulate.Config{Seed: 1, Count: 3000, Merchants: 300, Days: 3}
	for b.Loop() {
		if _, err := simulate.Generate(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
