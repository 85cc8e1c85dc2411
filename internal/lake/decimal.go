package lake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
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
	out := make([]byte, decimalBytes)
	return out, encodeDecimalTo(out, s)
}

// encodeDecimalTo writes the encoding of s into out (16 bytes), with
// 128-bit integer arithmetic: no allocation on the ETL's hot path.
func encodeDecimalTo(out []byte, s string) error {
	m, err := scanDecimal(s)
	if err != nil {
		return err
	}
	// The unscaled value is the mantissa's digits × 10^shift: drop the
	// digits a negative shift removes (they must be zeros), then scale up.
	keep := len(m.digits) - m.dots
	if m.shift < 0 {
		keep = max(0, keep+m.shift)
	}
	var v uint128
	n := 0
	for i := 0; i < len(m.digits); i++ {
		c := m.digits[i]
		if c == '.' {
			continue
		}
		if n++; n > keep {
			if c != '0' {
				return fmt.Errorf("%q: %w (more than %d decimal places)", s, errInexact, decimalScale)
			}
			continue
		}
		if v = v.mul10(uint64(c - '0')); !v.fits() {
			return fmt.Errorf("%q: %w (more than %d integer digits)", s, errInexact, decimalPrecision-decimalScale)
		}
	}
	for i := 0; i < m.shift && v != (uint128{}); i++ {
		if v = v.mul10(0); !v.fits() {
			return fmt.Errorf("%q: %w (more than %d integer digits)", s, errInexact, decimalPrecision-decimalScale)
		}
	}
	if m.neg {
		v = v.negate()
	}
	binary.BigEndian.PutUint64(out[:8], v.hi)
	binary.BigEndian.PutUint64(out[8:], v.lo)
	return nil
}

// mantissa is a plain decimal number as read: its digits (with the decimal
// point, if any), how many points (0 or 1), the power of ten that scales
// the digits to the unscaled DECIMAL(38,18) value, and its sign.
type mantissa struct {
	digits string
	dots   int
	shift  int
	neg    bool
}

// scanDecimal reads a plain decimal number: optional sign, digits with an
// optional fraction, optional exponent.
func scanDecimal(s string) (mantissa, error) {
	var m mantissa
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		m.neg = s[i] == '-'
		i++
	}
	start, frac, digits := i, 0, 0
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits++
			if m.dots > 0 {
				frac++
			}
			continue
		case c == '.' && m.dots == 0:
			m.dots++
			continue
		}
		break
	}
	if digits == 0 {
		return mantissa{}, notDecimal(s)
	}
	m.digits = s[start:i]
	exp := 0
	if i < len(s) {
		if s[i] != 'e' && s[i] != 'E' {
			return mantissa{}, notDecimal(s)
		}
		e, err := strconv.Atoi(s[i+1:])
		switch {
		case errors.Is(err, strconv.ErrRange) || err == nil && (e > 1e6 || e < -1e6):
			// Far beyond what DECIMAL(38,18) holds; the bound keeps the
			// arithmetic away from overflow.
			return mantissa{}, fmt.Errorf("%q: %w (exponent out of range)", s, errInexact)
		case err != nil:
			return mantissa{}, notDecimal(s)
		}
		exp = e
	}
	m.shift = decimalScale + exp - frac
	return m, nil
}

// notDecimal is the error for text that is not a decimal number.
func notDecimal(s string) error { return fmt.Errorf("%q is not a decimal number", s) }

// uint128 is an unsigned 128-bit integer.
type uint128 struct{ hi, lo uint64 }

// max38 is 10^38: DECIMAL(38,18) holds unscaled values below it.
var max38 = uint128{0x4b3b4ca85a86c47a, 0x098a224000000000}

// mul10 returns v×10 + d (d < 10); on overflow past 2^128 the result no
// longer fits (its hi part is saturated).
func (v uint128) mul10(d uint64) uint128 {
	hiCarry, lo := bits.Mul64(v.lo, 10)
	hiHi, hi := bits.Mul64(v.hi, 10)
	hi, c1 := bits.Add64(hi, hiCarry, 0)
	lo, c2 := bits.Add64(lo, d, 0)
	hi, c3 := bits.Add64(hi, 0, c2)
	if hiHi != 0 || c1 != 0 || c3 != 0 {
		return uint128{^uint64(0), ^uint64(0)}
	}
	return uint128{hi, lo}
}

// fits reports whether v < 10^38.
func (v uint128) fits() bool { return v.hi < max38.hi || v.hi == max38.hi && v.lo < max38.lo }

// negate returns the two's complement of v.
func (v uint128) negate() uint128 {
	lo, borrow := bits.Sub64(0, v.lo, 0)
	hi, _ := bits.Sub64(0, v.hi, borrow)
	return uint128{hi, lo}
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
