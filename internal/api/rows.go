package api

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/acmecheckout/reports/internal/markets"
)

// appendRows appends b's rows as a JSON array of objects, each with the
// batch's columns by name in table order: text as JSON strings (dates
// YYYY-MM-DD and decimals exactly as stored), NULL as null.
func appendRows(dst []byte, b markets.Batch) []byte {
	dst = append(dst, '[')
	for i, row := range b.Rows {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		for c, name := range b.Columns {
			if c > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, name)
			dst = append(dst, ':')
			if v := row[c]; v.Valid {
				dst = appendString(dst, v.Text)
			} else {
				dst = append(dst, "null"...)
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendString appends s as a JSON string. Plain printable ASCII, which every
// column name, date and decimal is, is copied as it is; anything else goes
// through encoding/json.
func appendString(dst []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			j, _ := json.Marshal(s) // a string always marshals
			return append(dst, j...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
