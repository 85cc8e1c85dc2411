package warehouse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestRedact: an error that could name the host (a network error) says only
// its kind; SQL and context errors pass through, so that "dw.currency" and
// the like stay readable.
func TestRedact(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 5432}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"network error names the address", fmt.Errorf("dw.currency: %w", &net.OpError{Op: "read", Net: "tcp", Addr: addr, Err: syscall.ECONNRESET}), "database connection: network error"},
		{"SQL error", fmt.Errorf("dw.currency: %w", &pgconn.PgError{Severity: "ERROR", Message: "permission denied for table currency", Code: "42501"}), "dw.currency: ERROR: permission denied for table currency (SQLSTATE 42501)"},
		{"context", fmt.Errorf("dw.currency: %w", context.DeadlineExceeded), "dw.currency: context deadline exceeded"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			got := redact(tc.err)
			if got.Error() != tc.want || strings.Contains(got.Error(), "10.1.2.3") {
				t.Errorf("redact = %q, want %q", got, tc.want)
			}
			if errors.Is(tc.err, context.DeadlineExceeded) && !errors.Is(got, context.DeadlineExceeded) {
				t.Error("the context error is lost")
			}
		})
	}
}
