package dynamo

import (
	"context"
	"testing"
	"time"
)

// Compensation outlives a cancelled caller, but only briefly past its deadline.
func TestCompensationContext(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deadline time.Duration // caller's deadline from now; 0 = none
		want     time.Duration
	}{
		{"no caller deadline", 0, compensationTimeout},
		{"caller deadline near", 100 * time.Millisecond, 100*time.Millisecond + compensationGrace},
		{"caller deadline passed", -time.Second, -time.Second + compensationGrace},
		{"caller deadline far", time.Minute, compensationTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancel := context.WithCancel(context.Background())
			if tc.deadline != 0 {
				parent, cancel = context.WithDeadline(context.Background(), time.Now().Add(tc.deadline))
			}
			cancel() // the caller is done: compensation still gets its own time
			ctx, stop := compensationContext(parent)
			defer stop()
			d, ok := ctx.Deadline()
			if !ok {
				t.Fatal("no deadline")
			}
			if got := time.Until(d); got > tc.want || got < tc.want-time.Second {
				t.Errorf("deadline in %v, want about %v", got, tc.want)
			}
			if tc.want > 0 && ctx.Err() != nil {
				t.Errorf("context already done: %v", ctx.Err())
			}
		})
	}
}
