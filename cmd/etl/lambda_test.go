package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestLambda runs the bundle's bootstrap under the Lambda Runtime Interface
// Emulator, as Lambda does, in another directory than its bundle, its
// secrets local-kms ciphertexts: ETL_CATALOG names a catalog relative to
// LAMBDA_TASK_ROOT or by absolute path; an invalid catalog or setting is an
// init error (posted to /runtime/init/error, then a non-zero exit), so no
// invocation runs with it; otherwise it decrypts each secret once, serves
// invocations, writes EMF metrics on stdout, and closes its connections on
// the SIGTERM of the environment's shutdown.
func TestLambda(t *testing.T) {
	task := bundle(t)
	bin := filepath.Join(task, "bootstrap")
	q := quandltest.NewServer(t, quandlKey)
	f := fredtest.NewServer(t, fredKey)
	kms := testenv.LocalKMS(t)
	dir := t.TempDir()
	env := []string{"AWS_LAMBDA_FUNCTION_NAME=" + function, "AWS_LAMBDA_FUNCTION_TIMEOUT=60",
		"AWS_REGION=" + testenv.Region, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_ENDPOINT_URL_KMS=" + kms.URL,
		"QUANDL_API_KEY=" + kms.Encrypt(t, quandlKey, function), "FRED_API_KEY=" + kms.Encrypt(t, fredKey, function),
		"DATABASE_URL=" + kms.Encrypt(t, testenv.Postgres(t), function),
		"QUANDL_BASE_URL=" + q.BaseURL, "FRED_BASE_URL=" + f.BaseURL}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// mustInitError invokes a function that cannot start: the answer is its
	// init error, and it exited non-zero.
	mustInitError := func(t *testing.T, fn *lambdatest.Emulator, want string) {
		t.Helper()
		resp, err := fn.Invoke(ctx, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Err == nil || resp.Err.Type != "Runtime.ConfigError" || !strings.Contains(resp.Err.Message, want) {
			t.Errorf("response %s, error %+v; want the init error Runtime.ConfigError %q", resp.Payload, resp.Err, want)
		}
		if !fn.WaitLog(ctx, "exited with error: exit status") {
			t.Errorf("the emulator does not report a non-zero exit:\n%s", fn.Log())
		}
	}

	t.Run("invalid catalog is an init error", func(t *testing.T) {
		bad := writeFile(t, "bad.json", `{"series": [{"job": "economics", "source": "fred", "code": "GDP", "dataset": "FRED", "ticker": "GDP", "staleAfterDays": "10"}]}`)
		fn := lambdatest.Emulate(t, bin, append(env, "ETL_CATALOG="+bad))
		mustInitError(t, fn, "invalid catalog: 1 problem:\n  series[0]: staleAfterDays: string where a whole number belongs")
	})

	t.Run("a configuration error is an init error", func(t *testing.T) {
		fn := lambdatest.Emulate(t, bin, append(env, "SECRETS_PLAINTEXT=maybe"))
		mustInitError(t, fn, `SECRETS_PLAINTEXT "maybe"`)
	})

	for _, tc := range []struct{ name, catalog string }{
		{"ETL_CATALOG relative to LAMBDA_TASK_ROOT", "catalogs/maintained.json"},
		{"ETL_CATALOG as an absolute path in the bundle", filepath.Join(task, "catalogs", "maintained.json")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fn := lambdatest.Emulate(t, bin, append(env, "LAMBDA_TASK_ROOT="+task, "ETL_CATALOG="+tc.catalog))
			resp, err := fn.Invoke(ctx, []byte(`{"jobs": ["real_estate"], "startDate": "2024-06-01", "endDate": "2025-01-10"}`))
			if err != nil {
				t.Fatal(err)
			}
			var sum etl.Summary
			if resp.Err != nil || json.Unmarshal(resp.Payload, &sum) != nil || !sum.OK || sum.Jobs[0].Tickers[0].Code != "ZILLOW/DATA" || sum.Jobs[0].RowsFetched != 7 {
				t.Fatalf("response %s, error %+v; want the maintained catalog's ZILLOW/DATA series", resp.Payload, resp.Err)
			}
			if fn.WaitOutput(ctx, `"Job":"real_estate"`, 1) == 0 || !strings.Contains(fn.Output(), `"Namespace":"CheckoutReports"`) {
				t.Errorf("no EMF line in the output:\n%s", fn.Output())
			}
		})
	}

	t.Run("invocations and SIGTERM", func(t *testing.T) {
		fn := lambdatest.Emulate(t, bin, env)
		before := kms.Calls("Decrypt")
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
		var sum etl.Summary
		if resp.Err != nil || json.Unmarshal(resp.Payload, &sum) != nil || !sum.OK || len(sum.Jobs) != 5 {
			t.Errorf("empty payload: response %s, error %+v; want the defaults: all 5 jobs", resp.Payload, resp.Err)
		}
		if n := fn.WaitOutput(ctx, `"Namespace":"CheckoutReports"`, 5); n != 5 {
			t.Errorf("%d EMF lines, want one per job:\n%s", n, fn.Output())
		}
		if n := kms.Calls("Decrypt") - before; n < 2 || n > 3 {
			t.Errorf("%d KMS Decrypt calls over 2 invocations, want each secret it needs once (the API key and the database URL; FRED's if a series is FRED's)", n)
		}
		if err := fn.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if fn.WaitOutput(ctx, "markets etl closed its connections on SIGTERM", 1) == 0 {
			t.Errorf("SIGTERM did not close the connections:\n%s", fn.Output())
		}
		if strings.Contains(fn.Output(), quandlKey) || strings.Contains(fn.Output(), fredKey) {
			t.Error("an API key leaked")
		}
	})
}
