package purchase_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/purchase"
)

// validCases are JSON texts at the edges of the grammar; json.Valid is the
// oracle for each.
var validCases = []string{
	``, ` `, `{}`, ` { } `, `[]`, `[1,2]`, `[1,]`, `[,1]`, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":}`,
	`"x"`, `"x`, `"\u00e9\n\t\"\\\/\b\f\r"`, `"\u00g0"`, `"\u12"`, `"\x"`, "\"a\x01\"", "\"\xff\xfe\"", `"\`,
	`0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-1.25e-10`, `+1`, `0x10`,
	`true`, `false`, `null`, `tru`, `nul`, `truex`, `true false`, `1 2`, `{} {}`, "\t\n\r{}\r\n",
	`{"date":"2011-12-03T10:15:30Z","amount":4285,"paymentMethod":"SLICE_IT","merchantId":"1bb53ed1-787b-4543-9def-ea18eef7902e"}`,
	`{"a":[{"b":[null,true,{"c":"d"}]}],"e":-1.5E3}`, `{"a":[}`, `{"a":{]}`, `[[[[]]]]`, `[[[[]]]`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
}

func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	for i, in := range validCases {
		name := in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			if got, want := purchase.ValidJSON([]byte(in)), json.Valid([]byte(in)); got != want {
				t.Errorf("case %d: ValidJSON = %t, json.Valid = %t", i, got, want)
			}
		})
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, in := range validCases {
		if len(in) < 1000 {
			f.Add([]byte(in))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if got, want := purchase.ValidJSON(in), json.Valid(in); got != want {
			t.Errorf("ValidJSON(%q) = %t, json.Valid = %t", in, got, want)
		}
	})
}
