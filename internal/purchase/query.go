package purchase

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// What a reader may ask for: a report by name, the day of a daily report, a
// datapoint by key. The checks live here, once, for the API, the store and the
// command-line tools.

// ParseReport returns the report called s, or an error naming the five.
func ParseReport(s string) (Report, error) {
	if r := Report(s); r.Valid() {
		return r, nil
	}
	reports := Reports()
	names := make([]string, 0, len(reports))
	for _, r := range reports {
		names = append(names, string(r))
	}
	return "", fmt.Errorf("unknown report %q: want one of %s", s, strings.Join(names, ", "))
}

// IsDay reports whether s is a calendar day written YYYY-MM-DD, as a daily
// report's day is (2011-12-03; not 2011-12-3, not 2011-02-30).
func IsDay(s string) bool {
	t, err := time.Parse(time.DateOnly, s)
	return err == nil && t.Format(time.DateOnly) == s
}

// CheckDay checks the day a listing of the valid report r is asked for: a
// daily report needs a day YYYY-MM-DD, an all-time report takes none ("").
func (r Report) CheckDay(day string) error {
	switch {
	case r.Daily() && day == "":
		return fmt.Errorf("report %s is daily: it needs a day YYYY-MM-DD", r)
	case r.Daily() && !IsDay(day):
		return fmt.Errorf("day %q is not a date YYYY-MM-DD", day)
	case !r.Daily() && day != "":
		return fmt.Errorf("report %s counts all time: it takes no day, got %q", r, day)
	}
	return nil
}

// Brackets returns the five amount brackets, from the lowest (SPEC §2).
func Brackets() [5]string {
	return [5]string{Bracket(0), Bracket(1000), Bracket(5000), Bracket(10000), Bracket(50000)}
}

// part is the kind of one |-separated part of a datapoint key.
type part uint8

const (
	partHour     part = iota // YYYY-MM-DD:HH
	partDay                  // YYYY-MM-DD
	partBracket              // 0-10, 10-50, 50-100, 100-500, 500+
	partMethod               // PAY_NOW, PAY_LATER, SLICE_IT
	partMerchant             // a lower-case UUID
)

// shapes are the parts of each report's datapoint keys (SPEC §2).
var shapes = [...]struct {
	report Report
	parts  []part
}{
	{HourBracket, []part{partHour, partBracket}},
	{HourBracketMethod, []part{partHour, partBracket, partMethod}},
	{BracketMethod, []part{partBracket, partMethod}},
	{DayMerchant, []part{partDay, partMerchant}},
	{MerchantMethod, []part{partMerchant, partMethod}},
}

// ParseDatapoint returns the datapoint whose key is s, telling its report
// from its shape (SPEC §2), or an error if s is the key of no datapoint any
// event could add to (so no other item of the datapoints table is ever read
// as one).
func ParseDatapoint(s string) (Datapoint, error) {
	parts := strings.Split(s, "|")
	for _, sh := range shapes {
		if len(parts) != len(sh.parts) {
			continue
		}
		ok := true
		for i, p := range sh.parts {
			ok = ok && p.matches(parts[i])
		}
		if ok {
			return Datapoint{Report: sh.report, Key: s}, nil
		}
	}
	return Datapoint{}, fmt.Errorf("%q is not a datapoint of any report (e.g. 2011-12-03:10|10-50, 10-50|SLICE_IT; merchant ids lower-case)", s)
}

func (p part) matches(s string) bool {
	switch p {
	case partHour:
		day, hour, ok := strings.Cut(s, ":")
		return ok && IsDay(day) && len(hour) == 2 && hour >= "00" && hour <= "23"
	case partDay:
		return IsDay(s)
	case partBracket:
		brackets := Brackets()
		return slices.Contains(brackets[:], s)
	case partMethod:
		methods := Methods()
		return slices.Contains(methods[:], Method(s))
	case partMerchant:
		return isMerchantID(s)
	}
	return false
}

// isMerchantID reports whether s is a UUID as datapoints hold it: 8-4-4-4-12
// lower-case hex digits.
func isMerchantID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
