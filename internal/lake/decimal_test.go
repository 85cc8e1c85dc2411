package lake

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDecimalRoundTrip(t *testing.T) {
	cases := []struct{ in, want string }{
		{"0", "0"}, {"-0", "0"}, {"+1", "1"}, {"1.", "1"}, {".5", "0.5"}, {"-.5", "-0.5"},
		{"1.50", "1.5"}, {"100", "100"}, {"0.000025", "0.000025"}, {"2.5e-05", "0.000025"}, {"2.5E5", "250000"},
		{"1e+2", "100"}, {"12.3e-17", "0.000000000000000123"},
		{"99999999999999999999.999999999999999999", "99999999999999999999.999999999999999999"},
		{"-99999999999999999999.999999999999999999", "-99999999999999999999.999999999999999999"},
		{"0.000000000000000001", "0.000000000000000001"}, {"-0.000000000000000001", "-0.000000000000000001"},
		{"000123.4500", "123.45"}, {"1.000000000000000000000000", "1"}, {"0e999999", "0"},
	}
	for _, tc := range cases {
		b, err := encodeDecimal(tc.in)
		if err != nil {
			t.Errorf("encodeDecimal(%q): %v", tc.in, err)
			continue
		}
		if got := decodeDecimal(b); got != tc.want {
			t.Errorf("%q stored as %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "-", ".", "1.2.3", "1e", "1e+", "e5", "1x", "NaN", "Inf", " 1", "1 ", "1,5", "0x10", "1e++2"} {
		if _, err := encodeDecimal(bad); err == nil || errors.Is(err, errInexact) {
			t.Errorf("encodeDecimal(%q) = %v, want a not-a-number error", bad, err)
		}
	}
	for _, inexact := range []string{"0.0000000000000000001", "100000000000000000000", "-100000000000000000000", "1e20",
		"1e-19", "1.0000000000000000001", "1e999999999", "1e-999999999", "340282366920938463463374607431768211456"} {
		if _, err := encodeDecimal(inexact); !errors.Is(err, errInexact) {
			t.Errorf("encodeDecimal(%q) = %v, want errInexact", inexact, err)
		}
	}
}

// Random numbers of up to 20 integer and 18 fractional digits, in plain and
// exponent notation, compared with math/big.
func TestDecimalAgainstBig(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		return b.String()
	}
	scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(decimalScale), nil))
	for range 20000 {
		s := digits(1+r.IntN(20)) + "." + digits(r.IntN(19))
		if r.IntN(2) == 0 {
			s = "-" + s
		}
		if r.IntN(3) == 0 {
			s = fmt.Sprintf("%se%d", s, r.IntN(6)-3)
		}
		want, _ := new(big.Rat).SetString(s)
		unscaled := new(big.Rat).Mul(want, scale)
		exact := unscaled.IsInt() && new(big.Int).Abs(unscaled.Num()).Cmp(new(big.Int).Exp(big.NewInt(10), big.NewInt(decimalPrecision), nil)) < 0
		b, err := encodeDecimal(s)
		if !exact {
			if !errors.Is(err, errInexact) {
				t.Fatalf("encodeDecimal(%q) = %v, want errInexact", s, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("encodeDecimal(%q): %v", s, err)
		}
		got, _ := new(big.Rat).SetString(decodeDecimal(b))
		if got.Cmp(want) != 0 {
			t.Fatalf("%q stored as %s", s, decodeDecimal(b))
		}
	}
}
