package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/lambdatest"
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
		name    string
		args    []string
		env     []string
		bare    bool // run with no environment at all
		summary bool // stdout is the JSON summary
		code    int
		stdout  string
		stderr  string
	}{
		{name: "migrate", args: []string{"migrate"}, stderr: "warehouse migrated"},
		{name: "run", args: []string{"run", "--job", "economics", "--start", "2017-01-01", "--end", "2017-12-08"}, stdout: `"ok": true`, summary: true, stderr: `"msg":"loaded"`},
		{name: "usage", args: []string{"frob"}, code: 2, stderr: "usage:"},
		{name: "-h without environment", args: []string{"-h"}, bare: true, stdout: "usage:"},
		{name: "help without environment", args: []string{"help"}, bare: true, stdout: "usage:"},
		{name: "run -h without environment", args: []string{"run", "-h"}, bare: true, stdout: "usage:"},
		{name: "unknown command without environment", args: []string{"frob"}, bare: true, code: 2, stderr: "unknown command \"frob\"\nusage:"},
		{name: "bad flag without environment", args: []string{"run", "--frob"}, bare: true, code: 2, stderr: "flag provided but not defined: -frob\nusage:"},
		{name: "config checked by run", args: []string{"run"}, bare: true, code: 1, stderr: "AWS_LAMBDA_FUNCTION_NAME is not set"},
		{name: "invalid input", args: []string{"run", "--start", "2017-12-09", "--end", "2017-12-08"}, code: 1, stderr: "startDate 2017-12-09 is after endDate"},
		{name: "bad config", args: []string{"migrate"}, env: []string{"SECRETS_PLAINTEXT=maybe"}, code: 1, stderr: "SECRETS_PLAINTEXT"},
		{name: "failed dataset", args: []string{"run", "--job", "economics"}, env: []string{"QUANDL_API_KEY=wrong"}, code: 1, stderr: "4 of 4 datasets failed"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(env, tc.env...)
			if tc.bare {
				cmd.Env = []string{}
			}
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
			if tc.summary {
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

// TestLambda runs the bootstrap under the Lambda Runtime Interface Emulator,
// as Lambda does: a configuration error is posted to init/error before it
// exits non-zero; otherwise it decrypts its secrets (local-kms ciphertexts)
// and serves invocations, rejecting a misspelt input and running the
// defaults on an empty payload.
func TestLambda(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := lambdatest.Build(t, root, "./cmd/etl", runtime.GOOS, runtime.GOARCH)
	const key, function = "qk-lambda-test-4242", "markets-etl"
	q := quandltest.NewServer(t, key)
	kms := testenv.LocalKMS(t)
	dsn := testenv.Postgres(t)
	dir := t.TempDir()
	env := []string{"AWS_LAMBDA_FUNCTION_NAME=" + function, "AWS_LAMBDA_FUNCTION_TIMEOUT=60",
		"AWS_REGION=" + testenv.Region, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_ENDPOINT_URL_KMS=" + kms.URL, "QUANDL_BASE_URL=" + q.BaseURL,
		"QUANDL_API_KEY=" + kms.Encrypt(t, key, function), "DATABASE_URL=" + kms.Encrypt(t, dsn, function)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("config error", func(t *testing.T) {
		fn := lambdatest.Emulate(t, bin, append(env, "SECRETS_PLAINTEXT=maybe"))
		resp, err := fn.Invoke(ctx, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Err == nil || resp.Err.Type != "Runtime.ConfigError" || !strings.Contains(resp.Err.Message, `SECRETS_PLAINTEXT "maybe"`) {
			t.Errorf("response %s, error %+v; want the init error Runtime.ConfigError", resp.Payload, resp.Err)
		}
		if !fn.WaitLog(ctx, "exited with error: exit status") {
			t.Errorf("the emulator does not report a non-zero exit:\n%s", fn.Log())
		}
	})

	t.Run("invocations", func(t *testing.T) {
		fn := lambdatest.Emulate(t, bin, env)
		resp, err := fn.Invoke(ctx, []byte(`{"job": ["currency"]}`))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Err == nil || !strings.Contains(resp.Err.Message, `invalid input`) || !strings.Contains(resp.Err.Message, `unknown field "job"`) {
			t.Errorf("misspelt input: response %s, error %+v; want it rejected naming the field", resp.Payload, resp.Err)
		}
		resp, err = fn.Invoke(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var sum struct {
			OK   bool `json:"ok"`
			Jobs []struct {
				Job string `json:"job"`
			} `json:"jobs"`
		}
		if resp.Err != nil || json.Unmarshal(resp.Payload, &sum) != nil || !sum.OK || len(sum.Jobs) != 5 {
			t.Errorf("empty payload: response %s, error %+v; want the defaults: all 5 jobs", resp.Payload, resp.Err)
		}
		if n := kms.Calls("Decrypt"); n != 2 {
			t.Errorf("%d KMS Decrypt calls, want 2: both secrets, once per cold start", n)
		}
		if strings.Contains(fn.Output(), key) {
			t.Error("the API key leaked")
		}
	})
}
