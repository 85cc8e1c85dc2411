package main_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/quandl/quandltest"
	"github.com/acmecheckout/reports/internal/testenv"
)

// TestCommand builds the binary and runs it as an operator would, outside
// Lambda, with plaintext secrets.
func TestCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "etl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const key = "qk-cmd-test-4242"
	q := quandltest.NewServer(t, key)
	env := append(os.Environ(), "AWS_LAMBDA_RUNTIME_API=", "SECRETS_PLAINTEXT=true", "QUANDL_API_KEY="+key,
		"DATABASE_URL="+testenv.Postgres(t), "QUANDL_BASE_URL="+q.BaseURL, "HEALTHCHECK_URL=", "QUANDL_CONCURRENCY=")
	tests := []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout string
		stderr string
	}{
		{name: "migrate", args: []string{"migrate"}, stderr: "warehouse migrated"},
		{name: "run", args: []string{"run", "--job", "economics", "--start", "2017-01-01", "--end", "2017-12-08"}, stdout: `"ok": true`, stderr: `"msg":"loaded"`},
		{name: "usage", args: []string{"frob"}, code: 2, stderr: "usage:"},
		{name: "invalid input", args: []string{"run", "--start", "2017-12-09", "--end", "2017-12-08"}, code: 1, stderr: "startDate 2017-12-09 is after endDate"},
		{name: "bad config", args: []string{"migrate"}, env: []string{"SECRETS_PLAINTEXT=maybe"}, code: 1, stderr: "SECRETS_PLAINTEXT"},
		{name: "failed dataset", args: []string{"run", "--job", "economics"}, env: []string{"QUANDL_API_KEY=wrong"}, code: 1, stderr: "4 of 4 datasets failed"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(env, tc.env...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, want %d\nstdout (want %q):\n%s\nstderr (want %q):\n%s", code, tc.code, tc.stdout, stdout.String(), tc.stderr, stderr.String())
			}
			if tc.stdout != "" {
				var v map[string]any
				if err := json.Unmarshal([]byte(stdout.String()), &v); err != nil {
					t.Errorf("stdout is not the JSON summary: %v", err)
				}
			}
			if strings.Contains(stdout.String()+stderr.String(), key) {
				t.Error("the API key leaked")
			}
		})
	}
}
