package purchase

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// InvalidError says why a message body is not a valid purchase event. Field is
// the JSON field at fault, or "" when the body as a whole is wrong.
type InvalidError struct {
	Field  string
	Reason string
}

// Error returns "field: reason", or the reason alone.
func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func invalid(field, format string, args ...any) *InvalidError {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// maxQuoted bounds how much of an offending value a reason quotes.
const maxQuoted = 64

// quote renders a raw JSON value for a reason, shortened when long.
func quote(raw []byte) string {
	if len(raw) > maxQuoted {
		return string(raw[:maxQuoted]) + "…"
	}
	return string(raw)
}

// kind names a raw JSON value's type for a reason: `string "4285"`.
func kind(raw []byte) string {
	switch raw[0] {
	case '"':
		return "string " + quote(raw)
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean " + string(raw)
	case 'n':
		return "null"
	default:
		return "number " + quote(raw)
	}
}

// Parse decodes and validates one message body per SPEC §1. It returns an
// *InvalidError naming the first rule the body breaks; fields other than the
// four it knows are ignored, but a known field given twice is invalid.
func Parse(body []byte) (Event, error) {
	if !validJSON(body) {
		return Event{}, invalid("", "not valid JSON")
	}
	s := scanner{b: body}
	s.space()
	if s.peek() != '{' {
		return Event{}, invalid("", "must be a JSON object, got %s", kind(s.b[s.i:]))
	}
	s.i++
	var date, amount, method, merchant []byte
	for {
		s.space()
		if s.peek() == '}' {
			break
		}
		key := s.value()
		s.space()
		s.i++ // ':'
		s.space()
		val := s.value()
		s.space()
		if s.peek() == ',' {
			s.i++
		}
		name := key[1 : len(key)-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			name = []byte(unquote(key))
		}
		var slot *[]byte
		switch string(name) {
		case "date":
			slot = &date
		case "amount":
			slot = &amount
		case "paymentMethod":
			slot = &method
		case "merchantId":
			slot = &merchant
		default:
			continue // other fields are ignored
		}
		if *slot != nil {
			return Event{}, invalid(string(name), "given more than once")
		}
		*slot = val
	}

	var e Event
	var err *InvalidError
	if e.Time, err = parseDate(date); err != nil {
		return Event{}, err
	}
	if e.Amount, err = parseAmount(amount); err != nil {
		return Event{}, err
	}
	if e.Method, err = parseMethod(method); err != nil {
		return Event{}, err
	}
	if e.MerchantID, err = parseMerchant(merchant); err != nil {
		return Event{}, err
	}
	return e, nil
}

// stringValue returns the contents of a raw JSON string value, unescaped. It
// copies only when the string holds escapes.
func stringValue(field string, raw []byte) ([]byte, *InvalidError) {
	if raw == nil {
		return nil, invalid(field, "is required")
	}
	if raw[0] != '"' {
		return nil, invalid(field, "must be a string, got %s", kind(raw))
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalid(field, "bad string %s", quote(raw))
		}
		return []byte(s), nil
	}
	return inner, nil
}

func unquote(raw []byte) string {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return string(raw)
	}
	return s
}

func parseAmount(raw []byte) (int64, *InvalidError) {
	const field = "amount"
	if raw == nil {
		return 0, invalid(field, "is required")
	}
	c := raw[0]
	if c != '-' && (c < '0' || c > '9') {
		return 0, invalid(field, "must be an integer number of cents, got %s", kind(raw))
	}
	for _, c := range raw {
		if c == '.' || c == 'e' || c == 'E' {
			return 0, invalid(field, "must be an integer number of cents, got %s", quote(raw))
		}
	}
	if raw[0] == '-' {
		if string(raw) == "-0" {
			return 0, nil
		}
		return 0, invalid(field, "must be at least 0, got %s", quote(raw))
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n > MaxAmount {
		return 0, invalid(field, "must be at most %d cents, got %s", MaxAmount, quote(raw))
	}
	return n, nil
}

func parseMethod(raw []byte) (Method, *InvalidError) {
	const field = "paymentMethod"
	s, err := stringValue(field, raw)
	if err != nil {
		return "", err
	}
	switch string(s) { // compares without allocating
	case string(PayNow):
		return PayNow, nil
	case string(PayLater):
		return PayLater, nil
	case string(SliceIt):
		return SliceIt, nil
	}
	return "", invalid(field, "must be one of PAY_NOW, PAY_LATER, SLICE_IT, got %s", quote(raw))
}

func parseMerchant(raw []byte) (string, *InvalidError) {
	const field = "merchantId"
	s, err := stringValue(field, raw)
	if err != nil {
		return "", err
	}
	if len(s) != 36 {
		return "", invalid(field, "must be a UUID (8-4-4-4-12 hex digits), got %s", quote(raw))
	}
	var b [36]byte
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", invalid(field, "must be a UUID (8-4-4-4-12 hex digits), got %s", quote(raw))
			}
		default:
			switch {
			case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			case c >= 'A' && c <= 'F':
				c += 'a' - 'A'
			default:
				return "", invalid(field, "must be a UUID (8-4-4-4-12 hex digits), got %s", quote(raw))
			}
		}
		b[i] = c
	}
	return string(b[:]), nil
}

// parseDate parses the date field: an RFC 3339 instant with a zone (see
// parseInstant).
func parseDate(raw []byte) (time.Time, *InvalidError) {
	const field = "date"
	s, err := stringValue(field, raw)
	if err != nil {
		return time.Time{}, err
	}
	t, why := parseInstant(s)
	if why != "" {
		return time.Time{}, invalid(field, "must be an RFC 3339 instant with a zone such as 2011-12-03T10:15:30Z (%s), got %s", why, quote(raw))
	}
	return t, nil
}

// instantLayout is the fixed part of an RFC 3339 instant: d is a digit, T
// may be lower-case.
const instantLayout = "dddd-dd-ddTdd:dd:dd"

// parseInstant parses YYYY-MM-DDTHH:MM:SS, optional fractional seconds, then Z
// or ±hh:mm (T and Z may be lower-case, as RFC 3339 allows), into UTC. It
// returns why s is not such an instant, or "". Leap seconds (:60) are
// rejected.
func parseInstant(s []byte) (time.Time, string) {
	if len(s) < len(instantLayout)+1 {
		return time.Time{}, "too short"
	}
	for i := range len(instantLayout) {
		want, c := instantLayout[i], s[i]
		if want == 'd' && (c < '0' || c > '9') || want != 'd' && c != want && (want != 'T' || c != 't') {
			return time.Time{}, "layout"
		}
	}
	year, month, day := digits(s[0:4]), digits(s[5:7]), digits(s[8:10])
	hour, minute, sec := digits(s[11:13]), digits(s[14:16]), digits(s[17:19])
	for _, r := range [...]struct {
		v, lo, hi int
		why       string
	}{
		{month, 1, 12, "month out of range"}, {day, 1, daysIn(year, month), "day out of range"},
		{hour, 0, 23, "hour out of range"}, {minute, 0, 59, "minute out of range"}, {sec, 0, 59, "second out of range"},
	} {
		if r.v < r.lo || r.v > r.hi {
			return time.Time{}, r.why
		}
	}
	nanos, zone, why := fraction(s[len(instantLayout):])
	if why != "" {
		return time.Time{}, why
	}
	offset, why := zoneOffset(zone)
	if why != "" {
		return time.Time{}, why
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.UTC).Add(-offset)
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, "year out of range in UTC"
	}
	return t, ""
}

// digits is the value of a run of ASCII digits.
func digits(s []byte) int {
	v := 0
	for _, c := range s {
		v = v*10 + int(c-'0')
	}
	return v
}

// fraction reads optional fractional seconds (".123"; digits past the ninth
// are dropped) from the start of s, and returns them as nanoseconds with what
// follows, the zone.
func fraction(s []byte) (nanos int, zone []byte, why string) {
	if s[0] != '.' {
		return 0, s, ""
	}
	i := 1
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if i <= 9 {
			nanos = nanos*10 + int(s[i]-'0')
		}
	}
	switch n := i - 1; {
	case n == 0:
		return 0, nil, "empty fraction"
	case i == len(s):
		return 0, nil, "missing zone"
	default:
		for ; n < 9; n++ {
			nanos *= 10
		}
	}
	return nanos, s[i:], ""
}

// zoneOffset reads a zone, Z or ±hh:mm, as the offset from UTC.
func zoneOffset(zone []byte) (time.Duration, string) {
	switch {
	case len(zone) == 1 && (zone[0] == 'Z' || zone[0] == 'z'):
		return 0, ""
	case len(zone) != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':':
		return 0, "zone must be Z or ±hh:mm"
	}
	for i, c := range zone[1:] {
		if i != 2 && (c < '0' || c > '9') {
			return 0, "zone offset out of range"
		}
	}
	oh, om := digits(zone[1:3]), digits(zone[4:6])
	if oh > 23 || om > 59 {
		return 0, "zone offset out of range"
	}
	offset := time.Duration(oh)*time.Hour + time.Duration(om)*time.Minute
	if zone[0] == '-' {
		offset = -offset
	}
	return offset, ""
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// scanner walks a body that validJSON has accepted.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value returns the raw bytes of the JSON value at the cursor and moves past it.
func (s *scanner) value() []byte {
	start := s.i
	switch s.peek() {
	case '"':
		s.i++
		for {
			j := bytes.IndexByte(s.b[s.i:], '"') + s.i
			k := j - 1 // count the backslashes before the quote
			for k >= s.i && s.b[k] == '\\' {
				k--
			}
			s.i = j + 1
			if (j-1-k)%2 == 0 {
				break
			}
		}
	case '{', '[':
		depth := 0
		for {
			switch c := s.b[s.i]; c {
			case '"':
				s.value()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				break
			}
		}
	default: // number, true, false, null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.b[start:s.i]
			}
			s.i++
		}
	}
	return s.b[start:s.i]
}
