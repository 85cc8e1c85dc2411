package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/etl"
	"github.com/acmecheckout/reports/internal/fred/fredtest"
	"github.com/acmecheckout/reports/internal/lambdatest"
	"github.com/acmecheckout/reports/internal/quandl/quandltest"
	"github.com/acmecheckout/reports/internal/testenv"
)

// bundle builds the function's bundle as SAM does, with the Makefile's
// build-EtlFunction target (for this machine instead of arm64 Linux), into
// a fresh directory, and returns it: bootstrap and catalogs/.
func bundle(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "build-EtlFunction", "ARTIFACTS_DIR="+dir,
		"LAMBDA_BUILD=go build -tags lambda.norpc -trimpath")
	cmd.Dir = root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build-EtlFunction: %v\n%s", err, out)
	}
	for _, f := range []string{"bootstrap", "catalogs/maintained.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("the bundle lacks %s: %v", f, err)
		}
	}
	return dir
}

// TestLambda runs the bundle's bootstrap as Lambda does, against a Runtime
// API, in another directory than its bundle: ETL_CATALOG names a catalog
// relative to LAMBDA_TASK_ROOT or by absolute path; an invalid catalog is an
// init error, so no invocation runs with it; otherwise it serves
// invocations, writes EMF metrics on stdout, and closes its connections on
// SIGTERM.
func TestLambda(t *testing.T) {
	task := bundle(t)
	bin := filepath.Join(task, "bootstrap")
	q := quandltest.NewServer(t, quandlKey)
	f := fredtest.NewServer(t, fredKey)
	env := []string{"SECRETS_PLAINTEXT=true", "QUANDL_API_KEY=" + quandlKey, "FRED_API_KEY=" + fredKey, "DATABASE_URL=" + testenv.Postgres(t),
		"QUANDL_BASE_URL=" + q.BaseURL, "FRED_BASE_URL=" + f.BaseURL, "AWS_LAMBDA_FUNCTION_NAME=markets-etl"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("invalid catalog is an init error", func(t *testing.T) {
		bad := writeFile(t, "bad.json", `{"series": [{"job": "economics", "source": "fred", "code": "GDP", "dataset": "FRED", "ticker": "GDP", "staleAfterDays": "10"}]}`)
		rt := lambdatest.NewServer(t)
		fn := lambdatest.Start(t, bin, append(env, rt.Env(), "ETL_CATALOG="+bad))
		ie, err := rt.WaitInitError(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ie.Type != "Runtime.ConfigError" || !strings.Contains(ie.Message, "invalid catalog: 1 problem:\n  series[0]: staleAfterDays: string where a whole number belongs") {
			t.Errorf("init error %+v", ie)
		}
		if code, err := fn.Wait(ctx); err != nil || code == 0 {
			t.Errorf("exit code %d (%v), want non-zero", code, err)
		}
		if _, err := rt.WaitReady(ctx); err == nil {
			t.Error("the function polled for invocations despite its init error")
		}
	})

	t.Run("a configuration error is an init error", func(t *testing.T) {
		rt := lambdatest.NewServer(t)
		lambdatest.Start(t, bin, append(env, rt.Env(), "SECRETS_PLAINTEXT=maybe"))
		ie, err := rt.WaitInitError(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ie.Type != "Runtime.ConfigError" || !strings.Contains(ie.Message, `SECRETS_PLAINTEXT "maybe"`) {
			t.Errorf("init error %+v", ie)
		}
	})

	for _, tc := range []struct{ name, catalog string }{
		{"ETL_CATALOG relative to LAMBDA_TASK_ROOT", "catalogs/maintained.json"},
		{"ETL_CATALOG as an absolute path in the bundle", filepath.Join(task, "catalogs", "maintained.json")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := lambdatest.NewServer(t)
			fn := lambdatest.Start(t, bin, append(env, rt.Env(), "LAMBDA_TASK_ROOT="+task, "ETL_CATALOG="+tc.catalog))
			resp, err := rt.Invoke(ctx, []byte(`{"jobs": ["real_estate"], "startDate": "2024-06-01", "endDate": "2025-01-10"}`))
			if err != nil {
				t.Fatal(err)
			}
			var sum etl.Summary
			if resp.Err != nil || json.Unmarshal(resp.Payload, &sum) != nil || !sum.OK || sum.Jobs[0].Tickers[0].Code != "ZILLOW/DATA" || sum.Jobs[0].RowsFetched != 7 {
				t.Fatalf("response %s, error %+v; want the maintained catalog's ZILLOW/DATA series", resp.Payload, resp.Err)
			}
			if !eventually(func() bool { return strings.Contains(fn.Stdout(), `"Job":"real_estate"`) }) || !strings.Contains(fn.Stdout(), `"Namespace":"CheckoutReports"`) {
				t.Errorf("no EMF line on stdout:\n%s", fn.Stdout())
			}
		})
	}

	t.Run("invocations and SIGTERM", func(t *testing.T) {
		rt := lambdatest.NewServer(t)
		fn := lambdatest.Start(t, bin, append(env, rt.Env()))
		resp, err := rt.Invoke(ctx, []byte(`{"job": ["currency"]}`))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Err == nil || !strings.Contains(resp.Err.Message, `invalid input`) || !strings.Contains(resp.Err.Message, `unknown field "job"`) {
			t.Errorf("misspelt input: response %s, error %+v; want it rejected naming the field", resp.Payload, resp.Err)
		}
		resp, err = rt.Invoke(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var sum etl.Summary
		if resp.Err != nil || json.Unmarshal(resp.Payload, &sum) != nil || !sum.OK || len(sum.Jobs) != 5 {
			t.Errorf("empty payload: response %s, error %+v; want the defaults: all 5 jobs", resp.Payload, resp.Err)
		}
		if !eventually(func() bool { return strings.Count(fn.Stdout(), `"Namespace":"CheckoutReports"`) == 5 }) {
			t.Errorf("EMF lines:\n%s\nwant one per job", fn.Stdout())
		}
		if err := fn.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if !eventually(func() bool { return strings.Contains(fn.Stderr(), "markets etl closed its connections on SIGTERM") }) {
			t.Errorf("SIGTERM did not close the connections:\n%s", fn.Stderr())
		}
		if strings.Contains(fn.Stdout()+fn.Stderr(), quandlKey) || strings.Contains(fn.Stdout()+fn.Stderr(), fredKey) {
			t.Error("an API key leaked")
		}
	})
}

// eventually reports whether cond holds within 10 seconds: the process's
// output reaches the test through a pipe, after its answer may have.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
