package lake

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Numbers are stored as DECIMAL(38,18): the unscaled value (the number times
// 10^18) as a 16-byte big-endian two's complement integer, the Parquet
// encoding Athena, Hive and DuckDB read for a precision of 38.
const (
	decimalPrecision = 38
	decimalScale     = 18
	decimalBytes     = 16
)

// errInexact is matched by the error of a number DECIMAL(38,18) cannot hold.
var errInexact = errors.New("DECIMAL(38,18) cannot hold it exactly")

// encodeDecimal returns the DECIMAL(38,18) encoding of a plain decimal
// number as markets.IsDecimal accepts it ("-1.25", "0.000025", "2.5e-05").
// It never rounds: a number with a non-zero digit beyond the 18th decimal
// place or above 20 integer digits is an error matching errInexact.
func encodeDecimal(s string) ([]byte, error) {
	digits, shift, neg, err := splitDecimal(s)
	if err != nil {
		return nil, err
	}
	// The unscaled value is digits × 10^shift.
	if shift < 0 {
		cut := len(digits) + shift
		if cut < 0 {
			cut = 0
		}
		if strings.Trim(digits[cut:], "0") != "" {
			return nil, fmt.Errorf("%q: %w (more than %d decimal places)", s, errInexact, decimalScale)
		}
		digits = digits[:cut]
	}
	digits = strings.TrimLeft(digits, "0")
	if digits != "" && shift > 0 {
		if len(digits)+shift > decimalPrecision {
			return nil, fmt.Errorf("%q: %w (more than %d integer digits)", s, errInexact, decimalPrecision-decimalScale)
		}
		digits += strings.Repeat("0", shift)
	}
	if len(digits) > decimalPrecision {
		return nil, fmt.Errorf("%q: %w (more than %d integer digits)", s, errInexact, decimalPrecision-decimalScale)
	}
	out := make([]byte, decimalBytes)
	if digits == "" {
		return out, nil
	}
	var v big.Int
	v.SetString(digits, 10)
	if neg {
		// Two's complement in 128 bits: 2^128 - |v|.
		v.Sub(new(big.Int).Lsh(big.NewInt(1), 8*decimalBytes), &v)
	}
	v.FillBytes(out)
	return out, nil
}

// splitDecimal reads a plain decimal number into its significant digits, the
// power of ten that scales them to the unscaled DECIMAL(38,18) value, and its
// sign.
func splitDecimal(s string) (digits string, shift int, neg bool, err error) {
	bad := func() (string, int, bool, error) {
		return "", 0, false, fmt.Errorf("%q is not a decimal number", s)
	}
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	if mant != "" && (mant[0] == '-' || mant[0] == '+') {
		neg = mant[0] == '-'
		mant = mant[1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits = intPart + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return bad()
	}
	e := 0
	if hasExp {
		// Exponents beyond ±10^6 cannot give a DECIMAL(38,18) anyway; the
		// bound keeps the arithmetic far from overflow.
		if e, err = strconv.Atoi(exp); err != nil || e > 1e6 || e < -1e6 {
			if err == nil || errors.Is(err, strconv.ErrRange) {
				return "", 0, false, fmt.Errorf("%q: %w (exponent out of range)", s, errInexact)
			}
			return bad()
		}
	}
	return digits, decimalScale + e - len(frac), neg, nil
}

// decodeDecimal returns the shortest exact text of a DECIMAL(38,18)
// encoding: no exponent, no trailing fractional zeros ("1.5", "-0.000025",
// "100").
func decodeDecimal(b []byte) string {
	var v big.Int
	v.SetBytes(b)
	neg := len(b) > 0 && b[0]&0x80 != 0
	if neg {
		v.Sub(new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))), &v)
	}
	s := v.String()
	if len(s) <= decimalScale {
		s = strings.Repeat("0", decimalScale-len(s)+1) + s
	}
	intPart, frac := s[:len(s)-decimalScale], strings.TrimRight(s[len(s)-decimalScale:], "0")
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}
