// Package deadline cuts work off before an invocation's deadline, so that a
// Lambda function still has time to answer.
package deadline

import (
	"context"
	"time"
)

// WithMargin returns ctx with its deadline moved margin earlier, but never by
// more than half the time left, so that some work is always possible. A ctx
// without a deadline is only made cancelable.
func WithMargin(ctx context.Context, margin time.Duration) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin = min(margin, time.Until(dl)/2)
	return context.WithDeadline(ctx, dl.Add(-margin))
}
