package sqsloop

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/acmecheckout/reports/internal/purchase"
)

// KeyOf returns the idempotency key of a JSON object body: the value of its
// field name, a string or a number (as written, e.g. 1234), which must be 1
// to 128 printable ASCII characters (SPEC §4). The error wraps ErrNoKey.
func KeyOf(body []byte, field string) (string, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return "", fmt.Errorf("%w: not a JSON object, so no field %q: %w", ErrNoKey, field, err)
	}
	raw, ok := fields[field]
	if !ok {
		return "", fmt.Errorf("%w: no field %q", ErrNoKey, field)
	}
	raw = bytes.TrimSpace(raw)
	var key string
	switch {
	case len(raw) > 0 && raw[0] == '"':
		if err := json.Unmarshal(raw, &key); err != nil {
			return "", fmt.Errorf("%w: field %q: %w", ErrNoKey, field, err)
		}
	case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
		key = string(raw)
	default:
		return "", fmt.Errorf("%w: field %q is %s, want a string or a number", ErrNoKey, field, raw)
	}
	if err := purchase.CheckIdempotencyKey(key); err != nil {
		return "", fmt.Errorf("%w: field %q = %q: %w", ErrNoKey, field, key, err)
	}
	return key, nil
}
