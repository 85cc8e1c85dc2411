package purchase_test

import (
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/purchase"
)

func TestCheckIdempotencyKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want string // part of the error, "" for a valid key
	}{
		{"k", ""},
		{"order-4711/try ~1", ""},
		{strings.Repeat("x", 128), ""},
		{"", "empty"},
		{strings.Repeat("x", 129), "129 bytes long"},
		{"tab\there", `byte 4 is '\t'`},
		{"del\x7f", `byte 4 is '\x7f'`},
		{"café", "byte 4"},
	} {
		err := purchase.CheckIdempotencyKey(tc.key)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckIdempotencyKey(%q) = %v, want nil", tc.key, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckIdempotencyKey(%q) = %v, want an error containing %q", tc.key, err, tc.want)
		}
	}
}
