package lambdatest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/testenv"
)

// Emulator is a function's bootstrap running under AWS's Lambda Runtime
// Interface Emulator (aws-lambda-rie, what `sam local` and the Lambda base
// images run; the version go.mod's tool directive pins). The emulator starts
// the bootstrap on the first invocation (Lambda's init phase), serves it the
// Runtime API and answers invocations over HTTP.
type Emulator struct {
	url    string
	cmd    *exec.Cmd
	done   chan struct{} // closed when the emulator has exited
	stdout *syncBuffer
	stderr *syncBuffer
}

// Emulate runs the bootstrap binary bin under the Runtime Interface Emulator,
// with exactly env as the emulator's environment, which it hands on to the
// function (add AWS_LAMBDA_FUNCTION_TIMEOUT, in seconds, for a timeout other
// than its default 300). Both stop when the test ends; if it failed, the
// emulator's output is logged.
func Emulate(t testing.TB, bin string, env []string) *Emulator {
	t.Helper()
	rie := testenv.GoTool(t, "aws-lambda-rie")
	addr := "127.0.0.1:" + testenv.FreePort(t)
	e := &Emulator{url: "http://" + addr + "/2015-03-31/functions/function/invocations", done: make(chan struct{}),
		stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:"+testenv.FreePort(t),
		"--log-level", "info",
		bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = e.stdout, e.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", rie, err)
	}
	e.cmd = cmd
	done := e.done
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("emulator stdout (the function's output):\n%s\nemulator log:\n%s", e.Output(), e.Log())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return e
		}
		select {
		case <-done:
			t.Fatalf("the emulator exited:\n%s", e.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator did not listen on %s: %v\n%s", addr, err, e.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Invoke invokes the function with payload, as the Lambda Invoke API does,
// and returns what it answered. The emulator answers a function error with
// 200 and the error document ({"errorType", "errorMessage"}), and a failed
// init (the function posted /runtime/init/error, or exited) with 502 and the
// init error: both come back in Response.Err.
func (e *Emulator) Invoke(ctx context.Context, payload []byte) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(payload))
	if err != nil {
		return Response{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("invoke: read response: %w", err)
	}
	var doc ErrorResponse
	isError := json.Unmarshal(body, &doc) == nil && doc.Type != "" && isErrorDocument(body)
	switch {
	case resp.StatusCode == http.StatusOK && !isError:
		return Response{Payload: body}, nil
	case (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusBadGateway) && isError:
		doc.Body = body
		return Response{Err: &doc}, nil
	}
	return Response{}, fmt.Errorf("invoke: HTTP %d: %s", resp.StatusCode, body)
}

// isErrorDocument reports whether body is a JSON object holding only the
// fields of a Lambda error document.
func isErrorDocument(body []byte) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return false
	}
	for k := range fields {
		switch k {
		case "errorType", "errorMessage", "stackTrace":
		default:
			return false
		}
	}
	return true
}

// Shutdown ends the execution environment as Lambda does: the emulator gets
// SIGTERM and passes it on to the function, which it kills if it has not
// exited by the deadline. Shutdown returns when the emulator has exited, or
// ctx ends.
func (e *Emulator) Shutdown(ctx context.Context) error {
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal the emulator: %w", err)
	}
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the emulator did not exit: %w", ctx.Err())
	}
}

// Output returns what the emulator wrote to stdout so far: the function's
// stdout and stderr, between the emulator's START, END and REPORT lines, as
// CloudWatch Logs would show them. The emulator relays it asynchronously: a
// line may arrive after the invocation's answer (see WaitOutput).
func (e *Emulator) Output() string { return e.stdout.String() }

// Log returns the emulator's own log so far (init and invoke phases, the
// function's exit status), also relayed asynchronously (see WaitLog).
func (e *Emulator) Log() string { return e.stderr.String() }

// WaitOutput waits until Output holds at least n occurrences of s, or ctx
// ends, and returns how many it holds.
func (e *Emulator) WaitOutput(ctx context.Context, s string, n int) int {
	return waitCount(ctx, e.Output, s, n)
}

// WaitLog waits until Log holds s, or ctx ends, and reports whether it does.
func (e *Emulator) WaitLog(ctx context.Context, s string) bool {
	return waitCount(ctx, e.Log, s, 1) >= 1
}

// waitCount polls read until it holds n occurrences of s or ctx ends.
func waitCount(ctx context.Context, read func() string, s string, n int) int {
	for {
		got := strings.Count(read(), s)
		if got >= n {
			return got
		}
		select {
		case <-ctx.Done():
			return got
		case <-time.After(20 * time.Millisecond):
		}
	}
}
