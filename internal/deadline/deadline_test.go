package deadline_test

import (
	"context"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/deadline"
)

func TestWithMargin(t *testing.T) {
	t.Run("no deadline", func(t *testing.T) {
		ctx, cancel := deadline.WithMargin(context.Background(), time.Second)
		defer cancel()
		if _, ok := ctx.Deadline(); ok {
			t.Error("a deadline appeared")
		}
	})
	for _, tc := range []struct {
		name         string
		left, margin time.Duration
		wantEarlier  time.Duration
	}{
		{"margin", 10 * time.Second, time.Second, time.Second},
		{"at most half the time left", time.Second, 10 * time.Second, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dl := time.Now().Add(tc.left)
			parent, pcancel := context.WithDeadline(context.Background(), dl)
			defer pcancel()
			ctx, cancel := deadline.WithMargin(parent, tc.margin)
			defer cancel()
			got, ok := ctx.Deadline()
			if !ok {
				t.Fatal("no deadline")
			}
			if earlier := dl.Sub(got); earlier < tc.wantEarlier-50*time.Millisecond || earlier > tc.wantEarlier {
				t.Errorf("deadline moved %v earlier, want about %v", earlier, tc.wantEarlier)
			}
		})
	}
}
