package purchase_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/purchase"
)

const merchant = "1bb53ed1-787b-4543-9def-ea18eef7902e"

func body(date, amount, method, merchantID string) string {
	return fmt.Sprintf(`{"date": %s, "amount": %s, "paymentMethod": %s, "merchantId": %s}`, date, amount, method, merchantID)
}

func mustParse(t *testing.T, b string) purchase.Event {
	t.Helper()
	e, err := purchase.Parse([]byte(b))
	if err != nil {
		t.Fatalf("Parse(%s): %v", b, err)
	}
	return e
}

func keys(e purchase.Event) []string {
	var out []string
	for _, dp := range e.Datapoints() {
		out = append(out, string(dp.Report)+"="+dp.Key)
	}
	return out
}

// The example event of SPEC §2 and its five datapoints.
func TestSpecExample(t *testing.T) {
	e := mustParse(t, `{"date": "2011-12-03T10:15:30Z", "amount": 4285, "paymentMethod": "SLICE_IT",
 "merchantId": "1bb53ed1-787b-4543-9def-ea18eef7902e"}`)
	want := []string{
		"hour-bracket=2011-12-03:10|10-50",
		"hour-bracket-method=2011-12-03:10|10-50|SLICE_IT",
		"bracket-method=10-50|SLICE_IT",
		"day-merchant=2011-12-03|1bb53ed1-787b-4543-9def-ea18eef7902e",
		"merchant-method=1bb53ed1-787b-4543-9def-ea18eef7902e|SLICE_IT",
	}
	if got := keys(e); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("datapoints:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBracket(t *testing.T) {
	for i, tc := range []struct {
		amount int64
		want   string
	}{
		{0, "0-10"}, {999, "0-10"},
		{1000, "10-50"}, {4999, "10-50"},
		{5000, "50-100"}, {9999, "50-100"},
		{10000, "100-500"}, {49999, "100-500"},
		{50000, "500+"}, {purchase.MaxAmount, "500+"},
	} {
		t.Run(fmt.Sprintf("%d %d", i, tc.amount), func(t *testing.T) {
			if got := purchase.Bracket(tc.amount); got != tc.want {
				t.Errorf("Bracket(%d) = %q, want %q", tc.amount, got, tc.want)
			}
			e := mustParse(t, body(`"2020-01-01T00:00:00Z"`, fmt.Sprint(tc.amount), `"PAY_NOW"`, `"`+merchant+`"`))
			if got := e.Datapoints()[2].Key; got != tc.want+"|PAY_NOW" {
				t.Errorf("bracket-method datapoint %q, want %q", got, tc.want+"|PAY_NOW")
			}
		})
	}
}

// Dates are bucketed in UTC, whatever the offset they were written with.
func TestDateBucketing(t *testing.T) {
	for i, tc := range []struct {
		name, date, hour string
	}{
		{"Z", "2011-12-03T10:15:30Z", "2011-12-03:10"},
		{"lower-case t and z", "2011-12-03t10:15:30z", "2011-12-03:10"},
		{"-02:00 crosses midnight forward", "2011-12-03T23:30:00-02:00", "2011-12-04:01"},
		{"+05:30 crosses midnight backward", "2011-12-04T02:00:00+05:30", "2011-12-03:20"},
		{"+05:30 half hour", "2011-12-03T10:29:59+05:30", "2011-12-03:04"},
		{"-00:00 is UTC", "2011-12-03T10:15:30-00:00", "2011-12-03:10"},
		{"fraction", "2011-12-03T10:59:59.999999999Z", "2011-12-03:10"},
		{"long fraction truncated", "2011-12-03T10:59:59.9999999999999Z", "2011-12-03:10"},
		{"one fraction digit", "2011-12-03T10:15:30.5+01:00", "2011-12-03:09"},
		{"new year", "2011-12-31T23:00:00-01:00", "2012-01-01:00"},
		{"leap day", "2012-02-29T12:00:00Z", "2012-02-29:12"},
		{"leap day 2000", "2000-02-29T12:00:00Z", "2000-02-29:12"},
	} {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			e := mustParse(t, body(`"`+tc.date+`"`, "100", `"PAY_LATER"`, `"`+merchant+`"`))
			dps := e.Datapoints()
			if got := dps[0].Key; got != tc.hour+"|0-10" {
				t.Errorf("hour-bracket %q, want %q", got, tc.hour+"|0-10")
			}
			day := tc.hour[:10]
			if got := dps[3].Key; got != day+"|"+merchant {
				t.Errorf("day-merchant %q, want day %s", got, day)
			}
			if got := dps[3].Day(); got != day {
				t.Errorf("Day() %q, want %q", got, day)
			}
			if e.Time.Location() != time.UTC {
				t.Errorf("time not in UTC: %v", e.Time)
			}
			// Agrees with the standard library wherever it accepts the form.
			if ref, err := time.Parse(time.RFC3339Nano, tc.date); err == nil && !ref.Equal(e.Time) && !strings.Contains(tc.name, "truncated") {
				t.Errorf("time %v, time.Parse says %v", e.Time, ref)
			}
		})
	}
}

func TestMerchantAndMethod(t *testing.T) {
	e := mustParse(t, body(`"2011-12-03T10:15:30Z"`, "4285", `"PAY_NOW"`, `"1BB53ED1-787B-4543-9DEF-EA18EEF7902E"`))
	if e.MerchantID != merchant {
		t.Errorf("merchant %q, want lower-case %q", e.MerchantID, merchant)
	}
	if got := e.Datapoints()[4].Key; got != merchant+"|PAY_NOW" {
		t.Errorf("merchant-method %q", got)
	}
	for _, m := range purchase.Methods() {
		e := mustParse(t, body(`"2011-12-03T10:15:30Z"`, "4285", `"`+string(m)+`"`, `"`+merchant+`"`))
		if e.Method != m {
			t.Errorf("method %q, want %q", e.Method, m)
		}
	}
}

func TestExtraFieldsAndEscapes(t *testing.T) {
	e := mustParse(t, `{"id": 7, "nested": {"a": [1, {"b": "}"}], "c": "\"date\""}, "date": "2011-12-03T10:15:30Z",
		"amount": 4285, "paymentMethod": "SLICE_\u0049T", "merchantId": "1bb53ed1-787b-4543-9def-ea18eef7902e", "x": null, "y": true}`)
	if e.Method != purchase.SliceIt || e.Amount != 4285 {
		t.Fatalf("got %+v", e)
	}
	// A key spelled with escapes is the same key.
	e = mustParse(t, `{"d\u0061te": "2011-12-03T10:15:30Z", "amount": 0, "paymentMethod": "PAY_NOW", "merchantId": "`+merchant+`"}`)
	if e.Time.Hour() != 10 {
		t.Fatalf("got %+v", e)
	}
}

func TestInvalid(t *testing.T) {
	valid := map[string]string{
		"date":          `"2011-12-03T10:15:30Z"`,
		"amount":        `4285`,
		"paymentMethod": `"SLICE_IT"`,
		"merchantId":    `"` + merchant + `"`,
	}
	// with returns the valid body with one field replaced ("" removes it).
	with := func(field, raw string) string {
		var parts []string
		for _, k := range []string{"date", "amount", "paymentMethod", "merchantId"} {
			v := valid[k]
			if k == field {
				if raw == "" {
					continue
				}
				v = raw
			}
			parts = append(parts, fmt.Sprintf("%q: %s", k, v))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	for i, tc := range []struct {
		name, body, field, reason string
	}{
		{"empty", ``, "", "not valid JSON"},
		{"not JSON", `date=2011`, "", "not valid JSON"},
		{"truncated", `{"date": "2011-12-03T10:15:30Z"`, "", "not valid JSON"},
		{"array", `[1, 2]`, "", "must be a JSON object, got array"},
		{"string", `"hello"`, "", `must be a JSON object, got string "hello"`},
		{"null", `null`, "", "must be a JSON object, got null"},
		{"two objects", valid["date"] + ` {}`, "", "not valid JSON"},
		{"missing date", with("date", ""), "date", "is required"},
		{"null date", with("date", "null"), "date", "must be a string, got null"},
		{"date number", with("date", "1322907330"), "date", "must be a string, got number 1322907330"},
		{"date no zone", with("date", `"2011-12-03T10:15:30"`), "date", "too short"},
		{"date no zone with fraction", with("date", `"2011-12-03T10:15:30.123"`), "date", "missing zone"},
		{"date space", with("date", `"2011-12-03 10:15:30Z"`), "date", "layout"},
		{"date only", with("date", `"2011-12-03"`), "date", "too short"},
		{"date Feb 30", with("date", `"2011-02-30T10:15:30Z"`), "date", "day out of range"},
		{"date Feb 29 non-leap", with("date", `"2011-02-29T10:15:30Z"`), "date", "day out of range"},
		{"date Feb 29 1900", with("date", `"1900-02-29T10:15:30Z"`), "date", "day out of range"},
		{"date month 13", with("date", `"2011-13-03T10:15:30Z"`), "date", "month out of range"},
		{"date hour 24", with("date", `"2011-12-03T24:00:00Z"`), "date", "hour out of range"},
		{"date minute 60", with("date", `"2011-12-03T10:60:00Z"`), "date", "minute out of range"},
		{"date leap second", with("date", `"2016-12-31T23:59:60Z"`), "date", "second out of range"},
		{"date offset hh", with("date", `"2011-12-03T10:15:30+24:00"`), "date", "zone offset out of range"},
		{"date offset no colon", with("date", `"2011-12-03T10:15:30+0100"`), "date", "zone must be Z or ±hh:mm"},
		{"date zone name", with("date", `"2011-12-03T10:15:30 UTC"`), "date", "zone must be Z or ±hh:mm"},
		{"date empty fraction", with("date", `"2011-12-03T10:15:30.Z"`), "date", "empty fraction"},
		{"date trailing", with("date", `"2011-12-03T10:15:30Zjunk"`), "date", "zone must be Z or ±hh:mm"},
		{"date sign in year", with("date", `"+011-12-03T10:15:30Z"`), "date", "layout"},
		{"date year out of range in UTC", with("date", `"0000-01-01T00:30:00+01:00"`), "date", "year out of range in UTC"},
		{"missing amount", with("amount", ""), "amount", "is required"},
		{"amount string", with("amount", `"4285"`), "amount", `must be an integer number of cents, got string "4285"`},
		{"amount null", with("amount", `null`), "amount", `must be an integer number of cents, got null`},
		{"amount fraction", with("amount", `42.85`), "amount", `must be an integer number of cents, got 42.85`},
		{"amount integral fraction", with("amount", `4285.0`), "amount", `must be an integer number of cents, got 4285.0`},
		{"amount exponent", with("amount", `4e3`), "amount", `must be an integer number of cents, got 4e3`},
		{"amount negative", with("amount", `-1`), "amount", `must be at least 0, got -1`},
		{"amount too large", with("amount", `1000000000001`), "amount", `must be at most 1000000000000 cents, got 1000000000001`},
		{"amount overflow", with("amount", `99999999999999999999999`), "amount", `must be at most 1000000000000 cents`},
		{"amount boolean", with("amount", `true`), "amount", `got boolean true`},
		{"missing method", with("paymentMethod", ""), "paymentMethod", "is required"},
		{"method lower-case", with("paymentMethod", `"slice_it"`), "paymentMethod", `must be one of PAY_NOW, PAY_LATER, SLICE_IT, got "slice_it"`},
		{"method unknown", with("paymentMethod", `"CARD"`), "paymentMethod", `got "CARD"`},
		{"method number", with("paymentMethod", `1`), "paymentMethod", `must be a string, got number 1`},
		{"method padded", with("paymentMethod", `" PAY_NOW"`), "paymentMethod", `got " PAY_NOW"`},
		{"missing merchant", with("merchantId", ""), "merchantId", "is required"},
		{"merchant no hyphens", with("merchantId", `"1bb53ed1787b45439defea18eef7902e"`), "merchantId", "must be a UUID"},
		{"merchant braces", with("merchantId", `"{1bb53ed1-787b-4543-9def-ea18eef7902e}"`), "merchantId", "must be a UUID"},
		{"merchant non-hex", with("merchantId", `"1bb53ed1-787b-4543-9def-ea18eef7902g"`), "merchantId", "must be a UUID"},
		{"merchant hyphen misplaced", with("merchantId", `"1bb53ed1-787b4-543-9def-ea18eef7902e"`), "merchantId", "must be a UUID"},
		{"merchant object", with("merchantId", `{}`), "merchantId", "must be a string, got object"},
		{"duplicate field", `{"amount": 1, "amount": 2, "date": "2011-12-03T10:15:30Z", "paymentMethod": "PAY_NOW", "merchantId": "` + merchant + `"}`, "amount", "given more than once"},
		{"duplicate escaped field", `{"date": "2011-12-03T10:15:30Z", "d\u0061te": "2011-12-03T10:15:30Z", "amount": 1, "paymentMethod": "PAY_NOW", "merchantId": "` + merchant + `"}`, "date", "given more than once"},
	} {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			e, err := purchase.Parse([]byte(tc.body))
			var inv *purchase.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("Parse(%s) = %+v, %v; want InvalidError", tc.body, e, err)
			}
			if inv.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", inv.Field, tc.field, err)
			}
			if !strings.Contains(inv.Reason, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", inv.Reason, tc.reason)
			}
		})
	}
}

// The exact reason issue 2 gives as an example.
func TestReasonWording(t *testing.T) {
	_, err := purchase.Parse([]byte(`{"date": "2011-12-03T10:15:30Z", "amount": "4285", "paymentMethod": "SLICE_IT", "merchantId": "` + merchant + `"}`))
	if got, want := err.Error(), `amount: must be an integer number of cents, got string "4285"`; got != want {
		t.Fatalf("error %q, want %q", got, want)
	}
}

func TestReasonQuotesAreBounded(t *testing.T) {
	long := `"` + strings.Repeat("x", 10000) + `"`
	_, err := purchase.Parse([]byte(body(long, "1", `"PAY_NOW"`, `"`+merchant+`"`)))
	if err == nil || len(err.Error()) > 300 {
		t.Fatalf("error too long or nil: %d bytes", len(err.Error()))
	}
}

func TestCounts(t *testing.T) {
	c := purchase.Increments{}
	a := mustParse(t, body(`"2011-12-03T10:15:30Z"`, "4285", `"SLICE_IT"`, `"`+merchant+`"`))
	b := mustParse(t, body(`"2011-12-03T10:45:00Z"`, "4000", `"PAY_NOW"`, `"`+merchant+`"`))
	c.Add(a)
	c.Add(a)
	c.Add(b)
	var total int64
	for _, n := range c {
		total += n
	}
	if total != 15 {
		t.Fatalf("total %d, want 15", total)
	}
	if got := c[purchase.Datapoint{Report: purchase.HourBracket, Key: "2011-12-03:10|10-50"}]; got != 3 {
		t.Errorf("hour-bracket count %d, want 3", got)
	}
	if got := c[purchase.Datapoint{Report: purchase.BracketMethod, Key: "10-50|SLICE_IT"}]; got != 2 {
		t.Errorf("bracket-method count %d, want 2", got)
	}
	if len(c) != 8 {
		t.Errorf("%d distinct datapoints, want 8", len(c))
	}
}

func TestReports(t *testing.T) {
	daily := map[purchase.Report]bool{purchase.HourBracket: true, purchase.HourBracketMethod: true, purchase.DayMerchant: true}
	for _, r := range purchase.Reports() {
		if !r.Valid() {
			t.Errorf("%s not valid", r)
		}
		if r.Daily() != daily[r] {
			t.Errorf("%s Daily() = %v", r, r.Daily())
		}
	}
	if purchase.Report("hour").Valid() {
		t.Error("unknown report valid")
	}
	if got := (purchase.Datapoint{Report: purchase.BracketMethod, Key: "10-50|PAY_NOW"}).Day(); got != "" {
		t.Errorf("all-time Day() = %q", got)
	}
	if got := purchase.Day(time.Date(2011, 12, 3, 23, 0, 0, 0, time.FixedZone("x", -3600))); got != "2011-12-04" {
		t.Errorf("Day = %q", got)
	}
}
