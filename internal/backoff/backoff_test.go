package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/backoff"
)

func TestDelay(t *testing.T) {
	p := backoff.Policy{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	for i, tc := range []struct {
		attempt int
		ceiling time.Duration
	}{
		{1, 10 * time.Millisecond}, {2, 20 * time.Millisecond}, {4, 80 * time.Millisecond},
		{5, 100 * time.Millisecond}, {40, 100 * time.Millisecond}, {0, 100 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("%d attempt %d", i, tc.attempt), func(t *testing.T) {
			var largest time.Duration
			for range 2000 {
				d := p.Delay(tc.attempt)
				if d < 0 || d > tc.ceiling {
					t.Fatalf("Delay(%d) = %v, want within [0, %v]", tc.attempt, d, tc.ceiling)
				}
				largest = max(largest, d)
			}
			if largest < tc.ceiling/2 {
				t.Errorf("Delay(%d) never above %v in 2000 draws: no jitter up to the cap %v", tc.attempt, largest, tc.ceiling)
			}
		})
	}
	if d := (backoff.Policy{}).Delay(3); d != 0 {
		t.Errorf("zero policy Delay = %v, want 0", d)
	}
}

func TestSleep(t *testing.T) {
	if err := backoff.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := backoff.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context = %v, want context.Canceled", err)
	}
}

func TestDoubling(t *testing.T) {
	for _, tc := range []struct {
		retries int
		want    time.Duration
	}{{0, 10 * time.Millisecond}, {1, 20 * time.Millisecond}, {3, 80 * time.Millisecond}, {-1, 10 * time.Millisecond}, {100, 10 * time.Millisecond << 16}} {
		if got := backoff.Doubling(10*time.Millisecond, tc.retries); got.Base != 10*time.Millisecond || got.Max != tc.want {
			t.Errorf("Doubling(10ms, %d) = %+v, want Max %v", tc.retries, got, tc.want)
		}
	}
}
