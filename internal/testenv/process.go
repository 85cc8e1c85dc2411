package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/emulator"
)

// startTimeout bounds an emulator's start: a JVM on a busy 2-core machine
// takes seconds, not minutes.
const startTimeout = 2 * time.Minute

// startForTest starts p for t and returns the path of its log: its output
// goes there, shown if t fails, and it is killed (with its process group)
// when t ends. A program that cannot start is Missing.
func startForTest(t testing.TB, p *emulator.Process) (logPath string) {
	t.Helper()
	log, err := os.CreateTemp(t.TempDir(), "emulator-*.log")
	if err != nil {
		t.Fatal(err)
	}
	p.Cmd.Stdout, p.Cmd.Stderr = log, log
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Cmd.Start(); err != nil {
		Missing(t, p.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = p.Cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("%s log:\n%s", p.Name, out)
		}
		_ = log.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := p.WaitReady(ctx, exited); err != nil {
		t.Fatal(err)
	}
	return log.Name()
}

// startForBinary starts p for the rest of this test binary's life: it is
// killed when the binary exits, however it exits (on Linux; elsewhere it is
// left running). Its output goes to an unlinked file, read back into the
// error if it does not start.
func startForBinary(p *emulator.Process) error {
	log, err := os.CreateTemp("", "emulator-*.log")
	if err != nil {
		return err
	}
	_ = os.Remove(log.Name()) // the open file lives on, and nothing is left behind
	p.Cmd.Stdout, p.Cmd.Stderr = log, log
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		// The parent-death signal is sent when the thread that started the
		// process ends: this goroutine keeps its thread until the process
		// exits.
		runtime.LockOSThread()
		p.Cmd.SysProcAttr = tiedToParent()
		if err := p.Cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = p.Cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := p.WaitReady(ctx, exited); err != nil {
		_ = p.Cmd.Process.Kill()
		return fmt.Errorf("%w\n%s log:\n%s", err, p.Name, tail(log, 4096))
	}
	return nil
}

// tail returns the last n bytes of f.
func tail(f *os.File, n int64) string {
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(st.Size()-n, 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return err.Error()
	}
	return string(b)
}

// toolPaths caches GoTool's answers for the test binary: asking the go
// command takes a second or two even when the tool is built.
var toolPaths sync.Map

// GoTool returns the path of the executable of a tool that go.mod declares
// (its `tool` directives, e.g. "aws-lambda-rie", "local-kms"), built at the
// version go.mod pins and cached by the go command.
func GoTool(t testing.TB, name string) string {
	t.Helper()
	if p, ok := toolPaths.Load(name); ok {
		return p.(string)
	}
	cmd := exec.Command("go", "tool", "-n", name) // go test puts its own go first on PATH
	cmd.Dir = mustModuleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("go tool -n %s: %v\n%s", name, err, exit.Stderr)
		}
		t.Fatalf("go tool -n %s: %v", name, err)
	}
	p := strings.TrimSpace(string(out))
	toolPaths.Store(name, p)
	return p
}
