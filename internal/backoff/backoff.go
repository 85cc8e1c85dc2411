// Package backoff is the one capped exponential backoff, with full jitter,
// used by the retries the AWS SDK's retryer does not make itself: transaction
// conflicts, unprocessed keys, SQS batch entries, retry rounds of a batch and
// Quandl requests.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is a capped exponential backoff: before retry number n (1 = the
// first retry) it waits a random duration in [0, min(Base·2^(n-1), Max)]
// ("full jitter"), so that clients that failed together do not retry together.
type Policy struct {
	Base time.Duration
	Max  time.Duration
}

// Delay returns the wait before retry number attempt (1-based).
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Max
	if attempt >= 1 && attempt < 32 {
		if e := p.Base << (attempt - 1); e > 0 && e < d {
			d = e
		}
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// Sleep waits d, or until ctx is done, whichever comes first; it returns
// ctx's error when ctx ended the wait.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
