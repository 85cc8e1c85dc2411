package dynamo

import (
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/purchase"
)

// TestPartsState: a conflict makes a datapoint's whole group hot, so every
// datapoint of the group goes to the store's one part of it, others still to
// their main items; a conflict on a hot group (its part) moves the store to
// another shard once per transaction; a group cools down after hotFor and is
// then forgotten.
func TestPartsState(t *testing.T) {
	p := newParts()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a := purchase.Datapoint{Report: purchase.BracketMethod, Key: "10-50|SLICE_IT"}
	b := purchase.Datapoint{Report: purchase.BracketMethod, Key: "0-10|PAY_NOW"}
	other := purchase.Datapoint{Report: purchase.HourBracket, Key: "2026-12-01:10|10-50"}
	if got := p.target(a, now); got != "" {
		t.Fatalf("cold datapoint goes to %q, want its main item", got)
	}
	moved := false
	p.contended(PartGroup(a), now, time.Minute, &moved)
	shard := p.shard
	if moved {
		t.Error("the first conflict on a group moved the shard")
	}
	want := PartKey("bracket-method", shard)
	if p.target(a, now) != want || p.target(b, now) != want {
		t.Errorf("hot group's datapoints go to %q and %q, want both to %q", p.target(a, now), p.target(b, now), want)
	}
	if got := p.target(other, now); got != "" {
		t.Errorf("a datapoint of another group goes to %q, want its main item", got)
	}
	p.contended(PartGroup(a), now, time.Minute, &moved)
	p.contended(PartGroup(a), now, time.Minute, &moved)
	if !moved || p.shard == shard {
		t.Errorf("a conflict on the part: moved %v, shard %d → %d", moved, shard, p.shard)
	}
	p.contended(PartGroup(other), now, time.Minute, new(bool))
	later := now.Add(2 * time.Minute)
	p.contended("merchant-method|1bb53ed1-787b-4543-9def-ea18eef7902e", later, time.Minute, new(bool))
	if len(p.hot) != 1 {
		t.Errorf("cooled groups are kept: %v", p.hot)
	}
	if got := p.target(a, later); got != "" {
		t.Errorf("cooled datapoint goes to %q, want its main item", got)
	}
}
