package bench

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/simulate"
)

// ScaleWorkload is issue 14's seeded workload of the scale benchmark: 4,000
// purchases from 100 merchants over two busy hours.
var ScaleWorkload = simulate.Config{Count: 4000, Merchants: 100, Seed: 14}

// ScaleStart and ScaleHours place the scale workload: the evening peak of
// its day, 19:00 to 21:00 UTC.
var ScaleStart = simulate.DefaultStart.Add(19 * time.Hour)

// ScaleHours is how many hours the scale workload spans.
const ScaleHours = 2

// NewBusyWorkload generates cfg's purchases (one day of them) and squeezes
// the day into hours hours from start, keeping their order and their
// relative spacing, so that every batch shares the current hours' datapoints
// as at a busy checkout. Message ids are "<seed>-<index>".
func NewBusyWorkload(cfg simulate.Config, start time.Time, hours int) (Workload, error) {
	cfg.Invalid, cfg.Days = 0, 1
	msgs, err := simulate.Generate(cfg)
	if err != nil {
		return Workload{}, fmt.Errorf("generate workload: %w", err)
	}
	ds := make([]purchase.Delivery, len(msgs))
	for i, m := range msgs {
		var p simulate.Purchase
		if err := json.Unmarshal(m.Body, &p); err != nil {
			return Workload{}, fmt.Errorf("generated message %d: %w", i, err)
		}
		y, mo, d := p.Date.UTC().Date()
		sinceMidnight := p.Date.Sub(time.Date(y, mo, d, 0, 0, 0, 0, time.UTC))
		p.Date = start.Add(time.Duration(float64(sinceMidnight) * float64(hours) / 24))
		body, err := json.Marshal(p)
		if err != nil {
			return Workload{}, fmt.Errorf("message %d: %w", i, err)
		}
		e, err := purchase.Parse(body)
		if err != nil {
			return Workload{}, fmt.Errorf("squeezed message %d: %w", i, err)
		}
		ds[i] = purchase.Delivery{Identity: fmt.Sprintf("%d-%06d", cfg.Seed, i), Event: e}
	}
	return Workload{Deliveries: ds}, nil
}
