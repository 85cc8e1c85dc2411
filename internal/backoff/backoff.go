// Package backoff is the one capped exponential backoff, with full jitter,
// of every retry in the project: the DynamoDB store also hands it to the AWS
// SDK's retryer (throttling, 5xx, timeouts), and uses it itself for the
// retries the SDK does not make (cancelled transactions, unprocessed keys);
// SQS batch entries and the HTTP clients of the ETL use it too.
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

// Doubling returns the policy that waits up to base before the first retry
// and lets the cap double doublings times (at most 16): Max is
// base·2^doublings. It is the one place a maximum is derived from a count.
func Doubling(base time.Duration, doublings int) Policy {
	return Policy{Base: base, Max: base << min(max(doublings, 0), 16)}
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
	return rand.N(d + 1) //nolint:gosec // G404: jitter spreads retries out; it needs no unpredictability
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
