package lambdatest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BuildFlags are the go build arguments Lambda bootstraps are built with
// (as the Makefile does), before -o.
var BuildFlags = []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"}

// Build builds the command package pkg (e.g. "./cmd/aggregator", relative to
// dir) as a static Lambda bootstrap for goos/goarch and returns its path in a
// temporary directory. The build runs in dir (the module root, say).
func Build(t testing.TB, dir, pkg, goos, goarch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	args := append(append([]string{}, BuildFlags...), "-o", out, pkg)
	cmd := exec.Command("go", args...) // go test puts its own go first on PATH
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v (GOOS=%s GOARCH=%s): %v\n%s", args, goos, goarch, err, b)
	}
	return out
}

// Process is a running function process.
type Process struct {
	// Started is when the process was started, for cold-start figures.
	Started time.Time

	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
}

// Start runs the bootstrap binary bin with exactly env as its environment
// (add Server.Env() to talk to a Server). The process is killed when the
// test ends.
func Start(t testing.TB, bin string, env []string) *Process {
	t.Helper()
	p := &Process{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.Started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("function stdout:\n%s\nfunction stderr:\n%s", p.Stdout(), p.Stderr())
		}
	})
	return p
}

// Stdout returns what the process wrote to stdout so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr returns what the process wrote to stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// syncBuffer is a bytes.Buffer safe for the process's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
