package purchase_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/purchase"
)

// FuzzParse checks that Parse never panics, that every rejection is an
// InvalidError, and that every accepted body agrees with encoding/json and has
// exactly five well-formed, distinct datapoints.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"date": "2011-12-03T10:15:30Z", "amount": 4285, "paymentMethod": "SLICE_IT", "merchantId": "1bb53ed1-787b-4543-9def-ea18eef7902e"}`,
		`{"date": "2011-12-03T23:30:00.123-02:00", "amount": 0, "paymentMethod": "PAY_NOW", "merchantId": "1BB53ED1-787B-4543-9DEF-EA18EEF7902E", "x": [1, {"y": "}"}]}`,
		`{"date": "2011-12-04T02:00:00+05:30", "amount": 1000000000000, "paymentMethod": "PAY_LATER", "merchantId": "00000000-0000-0000-0000-000000000000"}`,
		`{"date": "2011-12-03T10:15:30Z", "amount": "4285", "paymentMethod": "SLICE_IT", "merchantId": "x"}`,
		`{"d\u0061te": "2011-12-03T10:15:30Z", "amount": 1.5}`,
		`[]`, `null`, `{}`, `{"amount": -0}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := purchase.Parse(b)
		if err != nil {
			var inv *purchase.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("error %v is not an InvalidError", err)
			}
			return
		}
		// An accepted body is valid JSON whose fields encoding/json reads the same.
		var ref struct {
			Date          string `json:"date"`
			Amount        int64  `json:"amount"`
			PaymentMethod string `json:"paymentMethod"`
			MerchantID    string `json:"merchantId"`
		}
		if err := json.Unmarshal(b, &ref); err != nil {
			t.Fatalf("accepted %q but encoding/json says %v", b, err)
		}
		if ref.Amount != e.Amount || ref.PaymentMethod != string(e.Method) || strings.ToLower(ref.MerchantID) != e.MerchantID {
			t.Fatalf("accepted %q as %+v; encoding/json reads %+v", b, e, ref)
		}
		if ref2, err := time.Parse(time.RFC3339Nano, strings.ToUpper(ref.Date)); err == nil && !ref2.Equal(e.Time) && !longFraction(ref.Date) {
			t.Fatalf("date %q parsed as %v, time.Parse says %v", ref.Date, e.Time, ref2)
		}
		dps := e.Datapoints()
		seen := map[string]bool{}
		for i, dp := range dps {
			if dp.Report != purchase.Reports()[i] || dp.Key == "" || seen[dp.Key] {
				t.Fatalf("bad datapoints %+v", dps)
			}
			seen[dp.Key] = true
		}
		// The five datapoints as SPEC §2 composes them, derived independently.
		hour, day, br, m := e.Time.UTC().Format("2006-01-02:15"), e.Time.UTC().Format(time.DateOnly), bracketOf(e.Amount), string(e.Method)
		want := [5]string{hour + "|" + br, hour + "|" + br + "|" + m, br + "|" + m, day + "|" + e.MerchantID, e.MerchantID + "|" + m}
		for i, dp := range dps {
			if dp.Key != want[i] {
				t.Fatalf("datapoint %d of %q is %q, want %q", i, b, dp.Key, want[i])
			}
		}
		// The merchant is written lower-case into its datapoints (SPEC §1).
		if e.MerchantID != strings.ToLower(e.MerchantID) || !strings.HasSuffix(dps[3].Key, "|"+e.MerchantID) ||
			!strings.HasPrefix(dps[4].Key, e.MerchantID+"|") {
			t.Fatalf("merchant %q not lower-case in %+v", e.MerchantID, dps)
		}
		if !strings.HasPrefix(dps[1].Key, dps[0].Key+"|") || !strings.HasSuffix(dps[4].Key, "|"+string(e.Method)) {
			t.Fatalf("inconsistent datapoints %+v", dps)
		}
	})
}

// longFraction reports whether a date has more than nine fraction digits,
// which Parse truncates and time.Parse rounds.
func longFraction(date string) bool {
	_, frac, ok := strings.Cut(date, ".")
	n := 0
	for ok && n < len(frac) && frac[n] >= '0' && frac[n] <= '9' {
		n++
	}
	return n > 9
}

// bracketOf is SPEC §2's amount bracket, written out.
func bracketOf(cents int64) string {
	switch {
	case cents < 1000:
		return "0-10"
	case cents < 5000:
		return "10-50"
	case cents < 10000:
		return "50-100"
	case cents < 50000:
		return "100-500"
	}
	return "500+"
}
