// Package purchase is the domain at the center of the purchase reports: the
// purchase event the checkout system sends (SPEC §1), its validation, and the
// five report datapoints each valid event adds one to (SPEC §2).
//
// It knows nothing of AWS: the DynamoDB store, the SQS handler and the
// command-line tools adapt to it.
package purchase

import (
	"time"
)

// Method is how a purchase was paid.
type Method string

// The payment methods a purchase event may carry (case-sensitive).
const (
	PayNow   Method = "PAY_NOW"
	PayLater Method = "PAY_LATER"
	SliceIt  Method = "SLICE_IT"
)

// Methods returns every valid payment method.
func Methods() [3]Method { return [3]Method{PayNow, PayLater, SliceIt} }

// MaxAmount is the largest valid amount, in cents.
const MaxAmount int64 = 1_000_000_000_000

// Event is one valid purchase.
type Event struct {
	// Time is the purchase instant, in UTC.
	Time time.Time
	// Amount is in cents, 0 <= Amount <= MaxAmount.
	Amount int64
	// Method is the payment method.
	Method Method
	// MerchantID is the merchant's UUID, lower-case.
	MerchantID string
}

// Report identifies one of the five reports.
type Report string

// The five reports of SPEC §2.
const (
	HourBracket       Report = "hour-bracket"
	HourBracketMethod Report = "hour-bracket-method"
	BracketMethod     Report = "bracket-method"
	DayMerchant       Report = "day-merchant"
	MerchantMethod    Report = "merchant-method"
)

// Reports returns the five reports in their canonical order, the order of
// Event.Datapoints.
func Reports() [5]Report {
	return [5]Report{HourBracket, HourBracketMethod, BracketMethod, DayMerchant, MerchantMethod}
}

// Daily reports whether the report's datapoints belong to one UTC day, so that
// it can be listed one day at a time. The all-time reports are not daily.
func (r Report) Daily() bool {
	return r == HourBracket || r == HourBracketMethod || r == DayMerchant
}

// Valid reports whether r is one of the five reports.
func (r Report) Valid() bool {
	switch r {
	case HourBracket, HourBracketMethod, BracketMethod, DayMerchant, MerchantMethod:
		return true
	}
	return false
}

// Datapoint is one counter of one report, e.g. {HourBracket, "2011-12-03:10|10-50"}.
// Key is unique across all reports.
type Datapoint struct {
	Report Report
	Key    string
}

// Day returns the UTC day (YYYY-MM-DD) a daily report's datapoint belongs to,
// or "" for the all-time reports.
func (d Datapoint) Day() string {
	if !d.Report.Daily() || len(d.Key) < len("2006-01-02") {
		return ""
	}
	return d.Key[:len("2006-01-02")]
}

// Bracket returns the amount bracket of an amount in cents: 0-10, 10-50,
// 50-100, 100-500 or 500+ (half-open, in currency units).
func Bracket(amount int64) string {
	switch {
	case amount < 1000:
		return "0-10"
	case amount < 5000:
		return "10-50"
	case amount < 10000:
		return "50-100"
	case amount < 50000:
		return "100-500"
	default:
		return "500+"
	}
}

// Datapoints returns the five datapoints e adds one to, in the order of
// Reports(). The five keys share one allocation.
func (e Event) Datapoints() [5]Datapoint {
	t := e.Time.UTC()
	y, mo, d := t.Date()
	h := t.Hour()
	bracket := Bracket(e.Amount)
	method := string(e.Method)
	merchant := e.MerchantID

	// hour(13) | bracket | method, hour | bracket, day(10) | merchant, bracket | method, merchant | method
	var buf [256]byte
	b := buf[:0]
	b = appendDay(b, y, int(mo), d)
	b = append(b, ':')
	b = append2(b, h)
	hourBracketEnd := len(b) + 1 + len(bracket)
	b = append(b, '|')
	b = append(b, bracket...)
	b = append(b, '|')
	b = append(b, method...)
	hbm := len(b)
	b = append(b, bracket...)
	b = append(b, '|')
	b = append(b, method...)
	bm := len(b)
	b = appendDay(b, y, int(mo), d)
	b = append(b, '|')
	b = append(b, merchant...)
	dm := len(b)
	b = append(b, merchant...)
	b = append(b, '|')
	b = append(b, method...)
	s := string(b)

	return [5]Datapoint{
		{HourBracket, s[:hourBracketEnd]},
		{HourBracketMethod, s[:hbm]},
		{BracketMethod, s[hbm:bm]},
		{DayMerchant, s[bm:dm]},
		{MerchantMethod, s[dm:]},
	}
}

// Day formats t's UTC day as a daily report's day (YYYY-MM-DD).
func Day(t time.Time) string {
	y, m, d := t.UTC().Date()
	return string(appendDay(nil, y, int(m), d))
}

func appendDay(b []byte, y, m, d int) []byte {
	b = append2(b, y/100)
	b = append2(b, y%100)
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	return append2(b, d)
}

// append2 appends n (0 to 99) as two decimal digits.
func append2(b []byte, n int) []byte {
	const digits = "0123456789"
	return append(b, digits[n/10%10], digits[n%10])
}

// Increments adds up datapoint increments, so that a batch of events becomes
// one update per distinct datapoint.
type Increments map[Datapoint]int64

// Add adds one to each of e's five datapoints.
func (c Increments) Add(e Event) {
	for _, dp := range e.Datapoints() {
		c[dp]++
	}
}
