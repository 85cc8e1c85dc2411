package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/acmecheckout/reports/internal/markets"
)

// A cursor is opaque to clients: the base64url (unpadded) JSON array of the
// key values of the last row a page returned, in key order, e.g.
// ["CURRFX","GBPUSD","2017-12-04"]. The next page starts strictly after it.

// encodeCursor returns the cursor of row, a row of b.
func encodeCursor(b markets.Batch, row []markets.Value) (string, error) {
	key := make([]string, len(b.Table.Key))
	for i, k := range b.Table.Key {
		c := b.Column(k)
		if c < 0 || !row[c].Valid {
			return "", fmt.Errorf("cursor: row of %s without key column %s", b.Table, k)
		}
		key[i] = row[c].Text
	}
	j, err := json.Marshal(key)
	if err != nil {
		return "", fmt.Errorf("cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(j), nil
}

// decodeCursor returns the key values of a cursor of table t given for
// ticker, or a 400 error if it is not one.
func decodeCursor(s string, t markets.Table, ticker string) ([]markets.Value, error) {
	bad := invalid("cursor %q is not a cursor of this query: use the next value of the previous page", truncate(s, 64))
	j, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var key []string
	if err := json.Unmarshal(j, &key); err != nil || len(key) != len(t.Key) {
		return nil, bad
	}
	after := make([]markets.Value, len(key))
	for i, k := range t.Key {
		switch k {
		case markets.ColTicker:
			if key[i] != ticker {
				return nil, bad
			}
		case markets.ColDate:
			d, err := markets.ParseDate(key[i])
			if err != nil || d.Check() != nil {
				return nil, bad
			}
		}
		after[i] = markets.TextValue(key[i])
	}
	return after, nil
}

// truncate returns s cut to n bytes, marked with "…" when cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
