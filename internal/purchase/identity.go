package purchase

import (
	"errors"
	"fmt"
)

// MaxIdempotencyKeyLength is the longest idempotency key, in characters.
const MaxIdempotencyKeyLength = 128

// CheckIdempotencyKey returns why key cannot identify a purchase, or nil. A
// producer's idempotency key is 1 to MaxIdempotencyKeyLength printable ASCII
// characters (space to tilde): the same key on every try of a send makes the
// purchase count once (SPEC §4).
func CheckIdempotencyKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty: want 1 to 128 printable ASCII characters")
	case len(key) > MaxIdempotencyKeyLength:
		return fmt.Errorf("%d bytes long: want 1 to %d printable ASCII characters", len(key), MaxIdempotencyKeyLength)
	}
	for i := range len(key) {
		if c := key[i]; c < ' ' || c > '~' {
			return fmt.Errorf("byte %d is %q: want printable ASCII characters only", i+1, c)
		}
	}
	return nil
}
