// Package simulate generates realistic, seeded purchase events (SPEC §1) for
// the demo, the local SQS loop and the benchmarks: a few merchants take most
// of the sales (Zipf-like popularity), sales follow the time of day, amounts
// are log-normal and span all five brackets, and the payment-method mix
// shifts towards instalments for larger baskets.
//
// The same Config always yields the same messages, byte for byte.
package simulate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/acmecheckout/reports/internal/purchase"
)

// Config says what to generate. The zero values of Merchants, Days and Start
// take the defaults documented on each field.
type Config struct {
	// Seed makes the output reproducible: the same Config gives the same
	// messages and the same merchant ids.
	Seed uint64
	// Count is the number of valid purchases.
	Count int
	// Invalid is the number of invalid events mixed in among them (bad
	// fields, wrong types, not JSON), so consumers can show they are rejected.
	Invalid int
	// Merchants is the number of distinct merchants (default 100).
	Merchants int
	// Start is the first UTC day; only its date counts (default 2024-03-01).
	Start time.Time
	// Days is the number of consecutive UTC days to spread purchases over
	// (default 1).
	Days int
	// Skew is the Zipf exponent of merchant popularity: rank k sells in
	// proportion to 1/k^Skew (default 1.1; 0 keeps the default, use a tiny
	// positive value for nearly uniform).
	Skew float64
}

// DefaultStart is the first day generated when Config.Start is zero.
var DefaultStart = time.Date(2024, time.March, 1, 0, 0, 0, 0, time.UTC)

// Purchase is one valid purchase event with SPEC §1's JSON field names.
type Purchase struct {
	Date          time.Time       `json:"date"`
	Amount        int64           `json:"amount"`
	PaymentMethod purchase.Method `json:"paymentMethod"`
	MerchantID    string          `json:"merchantId"`
}

// MarshalJSON renders the date with millisecond precision in UTC, as the
// checkout system sends it.
func (p Purchase) MarshalJSON() ([]byte, error) {
	type wire struct {
		Date          string          `json:"date"`
		Amount        int64           `json:"amount"`
		PaymentMethod purchase.Method `json:"paymentMethod"`
		MerchantID    string          `json:"merchantId"`
	}
	return json.Marshal(wire{p.Date.UTC().Format("2006-01-02T15:04:05.000Z07:00"), p.Amount, p.PaymentMethod, p.MerchantID})
}

// Message is one generated message body. Invalid says why the body breaks
// SPEC §1, or is "" for a valid purchase.
type Message struct {
	Body    []byte
	Invalid string
}

// Valid reports whether the message carries a valid purchase.
func (m Message) Valid() bool { return m.Invalid == "" }

// Generate returns cfg.Count valid purchases in time order with cfg.Invalid
// invalid events spread among them at seeded positions.
func Generate(cfg Config) ([]Message, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed_ac4e))
	merchants := Merchants(cfg.Seed, cfg.Merchants)
	pick := zipf(rng, len(merchants), cfg.Skew)

	ps := make([]Purchase, cfg.Count)
	for i := range ps {
		amount := sampleAmount(rng)
		ps[i] = Purchase{
			Date:          sampleTime(rng, cfg.Start, cfg.Days),
			Amount:        amount,
			PaymentMethod: sampleMethod(rng, amount),
			MerchantID:    merchants[pick()],
		}
	}
	slices.SortStableFunc(ps, func(a, b Purchase) int { return a.Date.Compare(b.Date) })

	msgs := make([]Message, 0, cfg.Count+cfg.Invalid)
	for _, p := range ps {
		body, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("marshal purchase: %w", err)
		}
		msgs = append(msgs, Message{Body: body})
	}
	for i := range cfg.Invalid {
		bad := invalidBodies[i%len(invalidBodies)]
		body := fmt.Sprintf(bad.body, merchants[pick()])
		at := rng.IntN(len(msgs) + 1)
		msgs = slices.Insert(msgs, at, Message{Body: []byte(body), Invalid: bad.why})
	}
	return msgs, nil
}

// WriteJSONLines writes one message body per line, the input format of the
// SQS publisher.
func WriteJSONLines(w io.Writer, msgs []Message) error {
	for _, m := range msgs {
		if _, err := fmt.Fprintf(w, "%s\n", m.Body); err != nil {
			return fmt.Errorf("write message: %w", err)
		}
	}
	return nil
}

// Merchants returns n merchant UUIDs (version 4 layout) derived from the seed,
// in popularity order: the first sells the most.
func Merchants(seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, 0x3e4c_4a47))
	ids := make([]string, n)
	for i := range ids {
		var b [16]byte
		for j := 0; j < 16; j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				b[j+k] = byte(v >> (8 * k))
			}
		}
		b[6] = b[6]&0x0f | 0x40 // version 4
		b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
		ids[i] = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	}
	return ids
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Merchants == 0 {
		cfg.Merchants = 100
	}
	if cfg.Days == 0 {
		cfg.Days = 1
	}
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart
	}
	if cfg.Skew == 0 {
		cfg.Skew = 1.1
	}
	y, m, d := cfg.Start.UTC().Date()
	cfg.Start = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	switch {
	case cfg.Count < 0 || cfg.Invalid < 0:
		return cfg, errors.New("simulate: count and invalid must not be negative")
	case cfg.Merchants < 0:
		return cfg, errors.New("simulate: merchants must be positive")
	case cfg.Days < 0:
		return cfg, errors.New("simulate: days must be positive")
	case cfg.Skew < 0:
		return cfg, errors.New("simulate: skew must not be negative")
	}
	return cfg, nil
}

// zipf returns a sampler of ranks 0..n-1 with P(k) proportional to 1/(k+1)^s.
func zipf(rng *rand.Rand, n int, s float64) func() int {
	cdf := make([]float64, n)
	total := 0.0
	for k := range cdf {
		total += 1 / math.Pow(float64(k+1), s)
		cdf[k] = total
	}
	return func() int {
		i, _ := slices.BinarySearch(cdf, rng.Float64()*total)
		return min(i, n-1)
	}
}

// hourWeights is the share of a day's purchases in each UTC hour: quiet at
// night, a lunchtime bump and an evening peak.
var hourWeights = [24]float64{
	1.5, 1, 0.6, 0.4, 0.4, 0.6, 1.2, 2.5, 3.5, 4, 4.5, 5.2,
	6, 5.5, 4.8, 4.6, 4.9, 5.5, 6.5, 7.5, 8, 7, 5, 3,
}

// sampleTime picks a day uniformly, an hour by hourWeights and a uniform
// millisecond within that hour.
func sampleTime(rng *rand.Rand, start time.Time, days int) time.Time {
	total := 0.0
	for _, w := range hourWeights {
		total += w
	}
	x := rng.Float64() * total
	hour := 0
	for ; hour < 23 && x >= hourWeights[hour]; hour++ {
		x -= hourWeights[hour]
	}
	day := rng.IntN(days)
	ms := rng.Int64N(int64(time.Hour / time.Millisecond))
	return start.AddDate(0, 0, day).Add(time.Duration(hour)*time.Hour + time.Duration(ms)*time.Millisecond)
}

// sampleAmount draws a log-normal basket in cents: median 35.00, with about
// 15% under 10.00 and 1-2% over 500.00.
func sampleAmount(rng *rand.Rand) int64 {
	const median, sigma = 3500.0, 1.2
	v := math.Round(median * math.Exp(sigma*rng.NormFloat64()))
	return int64(min(max(v, 1), float64(purchase.MaxAmount)))
}

// sampleMethod picks a payment method; instalments grow likelier with the
// basket, as they do at a real checkout.
func sampleMethod(rng *rand.Rand, amount int64) purchase.Method {
	payNow, payLater := 0.55, 0.30 // SLICE_IT takes the rest
	switch {
	case amount >= 50000:
		payNow, payLater = 0.25, 0.25
	case amount >= 10000:
		payNow, payLater = 0.40, 0.30
	}
	switch x := rng.Float64(); {
	case x < payNow:
		return purchase.PayNow
	case x < payNow+payLater:
		return purchase.PayLater
	default:
		return purchase.SliceIt
	}
}

// invalidBodies are the kinds of broken events a real producer emits; %s is a
// merchant id.
var invalidBodies = []struct{ body, why string }{
	{`{"date":"2024-03-01T10:15:30Z","amount":"4285","paymentMethod":"PAY_NOW","merchantId":"%s"}`, "amount is a string"},
	{`{"date":"2024-03-01T11:00:00Z","amount":1999,"paymentMethod":"CASH","merchantId":"%s"}`, "unknown payment method"},
	{`{"date":"2024-03-01 12:30:00","amount":2500,"paymentMethod":"SLICE_IT","merchantId":"%s"}`, "date without zone"},
	{`{"date":"2024-03-01T13:45:00Z","amount":-500,"paymentMethod":"PAY_LATER","merchantId":"%s"}`, "negative amount"},
	{`{"date":"2024-03-01T14:00:00Z","amount":12.5,"paymentMethod":"PAY_NOW","merchantId":"%s"}`, "fractional amount"},
	{`{"date":"2024-03-01T15:20:00Z","amount":4999,"paymentMethod":"PAY_NOW","merchant":"%s"}`, "merchantId missing"},
	{`purchase %s: 42.85 EUR`, "not JSON"},
}
