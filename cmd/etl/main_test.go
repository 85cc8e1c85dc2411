package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmecheckout/reports/internal/etl"
	"github.com/acmecheckout/reports/internal/fred/fredtest"
	"github.com/acmecheckout/reports/internal/quandl/quandltest"
	"github.com/acmecheckout/reports/internal/testenv"
)

const (
	function   = "markets-etl"
	quandlKey  = "qk-9d8c7b6a5f4e3d2c1b0a"
	fredKey    = "fedcba9876543210fedcba9876543210"
	dbPassword = "pg-s3cret-pw"
)

// env is a set of settings, for run's getenv.
type env map[string]string

func (e env) get(k string) string { return e[k] }

func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// root is the module's root: catalogs/ is in it.
func root(t testing.TB) string {
	t.Helper()
	r, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// writeFile writes content to a file in a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRun runs the command as an operator would, outside Lambda, with
// plaintext secrets: every outcome's exit code and output, and no key in it.
func TestRun(t *testing.T) {
	q := quandltest.NewServer(t, quandlKey)
	f := fredtest.NewServer(t, fredKey)
	base := env{"SECRETS_PLAINTEXT": "true", "QUANDL_API_KEY": quandlKey, "FRED_API_KEY": fredKey, "DATABASE_URL": testenv.Postgres(t),
		"QUANDL_BASE_URL": q.BaseURL, "FRED_BASE_URL": f.BaseURL}
	maintained := filepath.Join(root(t), "catalogs", "maintained.json")
	bad := writeFile(t, "bad.json", `{"series": [{"job": "economics", "source": "fred", "code": "GDP"}, {"job": "crypto", "source": "quandl", "code": "GDAX/BTC"}]}`)
	badProblems := "bad.json: invalid catalog: 3 problems:\n" +
		"  series[0] (fred GDP): dataset: required for source fred (only quandl entries default it from the code)\n" +
		"  series[0] (fred GDP): ticker: required for source fred (only quandl entries default it from the code)\n" +
		`  series[1] (quandl GDAX/BTC): job: unknown job "crypto": want one of currency, economics, equities, interest_rates, real_estate`
	tests := []struct {
		name    string
		args    []string
		env     env // nil: no settings at all
		code    int
		stdout  string
		stderr  string
		summary bool // stdout is the JSON summary
	}{
		{name: "migrate", args: []string{"migrate"}, env: base, stderr: "warehouse migrated"},
		{name: "run the default catalog", args: []string{"run", "--job", "economics", "--start", "2017-01-01", "--end", "2017-12-08"}, env: base,
			stdout: `"ok": true`, summary: true, stderr: `"msg":"loaded"`},
		{name: "run another catalog", args: []string{"run", "--catalog", maintained, "--job", "currency", "--start", "2024-12-01", "--end", "2025-01-08"}, env: base,
			stdout: `"code": "DEXUSEU"`, summary: true},
		{name: "run with ETL_CATALOG", args: []string{"run", "--job", "currency", "--start", "2024-12-01", "--end", "2025-01-08"}, env: base.with("ETL_CATALOG", maintained),
			stdout: `"code": "DEXUSUK"`, summary: true},
		{name: "check a catalog", args: []string{"catalog", "check", "--end", "2025-01-10", maintained},
			stdout: "currency        fred          DEXUSEU            FRED        DEXUSEU      -", stderr: "maintained.json: valid, 23 series (5 quandl-table, 18 fred)"},
		{name: "check as CSV", args: []string{"catalog", "check", "--format", "csv", "--job", "real_estate", "--end", "2025-01-10", maintained},
			stdout: "JOB,SOURCE,CODE,DATASET,TICKER,FILTERS,COLUMNS,CONSTANTS,STALE AFTER,START,END,INCREMENTAL,DESCRIPTION\nreal_estate,quandl-table,ZILLOW/DATA,ZILLOW,ZALL_102001,"},
		{name: "check the embedded catalog", args: []string{"catalog", "check", "--format", "json"}, stdout: `"code": "WIKI/FB"`, stderr: "the embedded catalog: valid, 14 series (14 quandl)"},
		{name: "check ETL_CATALOG", args: []string{"catalog", "check"}, env: env{"ETL_CATALOG": bad}, code: 1, stderr: "ETL_CATALOG " + bad},
		{name: "check an invalid catalog: every problem", args: []string{"catalog", "check", bad}, code: 1, stderr: badProblems},
		{name: "check a missing file", args: []string{"catalog", "check", "nope.json"}, code: 1, stderr: "etl: catalog: open nope.json: no such file or directory"},
		{name: "check with a bad format", args: []string{"catalog", "check", "--format", "yaml"}, code: 2, stderr: "--format \"yaml\": want table, json or csv\nusage:"},
		{name: "check two files", args: []string{"catalog", "check", bad, bad}, code: 2, stderr: "unexpected arguments"},
		{name: "catalog without check", args: []string{"catalog", "list"}, code: 2, stderr: "want: etl catalog check [FILE]\nusage:"},
		{name: "run an invalid catalog: no partial run", args: []string{"run"}, env: base.with("ETL_CATALOG", bad), code: 1, stderr: "ETL_CATALOG " + bad + ": invalid catalog: 3 problems"},
		{name: "run a missing catalog", args: []string{"run", "--catalog", "nope.json"}, env: base, code: 1, stderr: "--catalog: open nope.json: no such file or directory (the build copies catalogs/"},
		{name: "usage", args: []string{"frob"}, env: base, code: 2, stderr: "unknown command \"frob\"\nusage:"},
		{name: "no command", code: 2, stderr: "usage:"},
		{name: "-h", args: []string{"-h"}, stdout: "usage:\n  etl run"},
		{name: "help", args: []string{"help"}, stdout: "usage:"},
		{name: "run -h", args: []string{"run", "-h"}, stdout: "usage:"},
		{name: "run --help after flags", args: []string{"run", "--job", "currency", "--help"}, stdout: "usage:"},
		{name: "catalog --help", args: []string{"catalog", "--help"}, stdout: "usage:"},
		{name: "migrate -help", args: []string{"migrate", "-help"}, stdout: "usage:"},
		{name: "bad flag", args: []string{"run", "--jobs", "currency"}, code: 2, stderr: "flag provided but not defined: -jobs\nusage:"},
		{name: "flag without value", args: []string{"run", "--start"}, code: 2, stderr: "flag needs an argument: -start\nusage:"},
		{name: "stray argument", args: []string{"run", "currency"}, code: 2, stderr: "unexpected arguments \"currency\"\nusage:"},
		{name: "invalid input before config", args: []string{"run", "--job", "crypto"}, code: 1, stderr: `etl: invalid input: jobs: unknown job "crypto"`},
		{name: "start after end", args: []string{"run", "--start", "2017-12-09", "--end", "2017-12-08"}, env: base, code: 1, stderr: "startDate 2017-12-09 is after endDate"},
		{name: "settings checked by run", args: []string{"run"}, code: 1,
			stderr: "etl: QUANDL_API_KEY is not set: the catalog has 14 quandl and quandl-table series\nneither DATABASE_URL nor LAKE_URL is set: the ETL needs somewhere to store the series"},
		{name: "FRED key checked for a catalog with FRED series", args: []string{"run", "--catalog", maintained}, env: base.with("FRED_API_KEY", ""), code: 1,
			stderr: "FRED_API_KEY is not set: the catalog has 18 fred series"},
		{name: "migrate needs a database", args: []string{"migrate"}, code: 1, stderr: "DATABASE_URL is not set: there is no warehouse to migrate"},
		{name: "KMS needs the function name", args: []string{"migrate"}, env: env{"DATABASE_URL": "x"}, code: 1, stderr: "AWS_LAMBDA_FUNCTION_NAME is not set"},
		{name: "bad config", args: []string{"migrate"}, env: base.with("SECRETS_PLAINTEXT", "maybe"), code: 1, stderr: `SECRETS_PLAINTEXT "maybe": want true or false`},
		{name: "bad concurrency", args: []string{"run"}, env: base.with("QUANDL_CONCURRENCY", "17"), code: 1, stderr: `QUANDL_CONCURRENCY "17": want an integer from 1 to 16`},
		{name: "health check URL not echoed", args: []string{"run"}, env: base.with("HEALTHCHECK_URL", "hc.example/secret-token"), code: 1, stderr: "HEALTHCHECK_URL: want an http(s) URL"},
		{name: "a failed series fails the run", args: []string{"run", "--job", "economics", "--end", "2017-12-08"}, env: base.with("QUANDL_API_KEY", "wrong"), code: 1,
			stderr: "4 of 4 series did not load (4 failed)", summary: true},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			if tc.env == nil {
				tc.env = env{}
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, tc.env.get, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, want %d\nstdout (want %q):\n%s\nstderr (want %q):\n%s", code, tc.code, tc.stdout, stdout.String(), tc.stderr, stderr.String())
			}
			if tc.summary {
				var sum etl.Summary
				if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil || len(sum.Jobs) == 0 {
					t.Errorf("stdout is not the JSON summary: %v", err)
				}
			}
			for _, key := range []string{quandlKey, fredKey, "secret-token"} {
				if strings.Contains(stdout.String()+stderr.String(), key) {
					t.Errorf("%s leaked", key)
				}
			}
		})
	}
}

// TestRunWithTheLake: the lake (SPEC §7) as the only sink or beside the
// warehouse, from LAKE_URL or --lake, and `etl lake check`.
func TestRunWithTheLake(t *testing.T) {
	testenv.GoFakeS3(t, "markets")
	f := fredtest.NewServer(t, fredKey)
	maintained := filepath.Join(root(t), "catalogs", "maintained.json")
	lakeOnly := env{"SECRETS_PLAINTEXT": "true", "FRED_API_KEY": fredKey, "QUANDL_API_KEY": quandlKey, "FRED_BASE_URL": f.BaseURL,
		"ETL_CATALOG": maintained, "LAKE_URL": "s3://markets/lake"}
	both := lakeOnly.with("DATABASE_URL", testenv.Postgres(t), "LAKE_URL", "")
	tests := []struct {
		name   string
		args   []string
		env    env
		code   int
		stdout string
		stderr string
	}{
		{"the lake only", []string{"run", "--job", "currency", "--start", "2024-12-01", "--end", "2025-01-08"}, lakeOnly, 0, `"rowsWritten": 56`, ""},
		{"again: nothing changes", []string{"run", "--job", "currency", "--start", "2024-12-01", "--end", "2025-01-08"}, lakeOnly, 0, `"rowsWritten": 0`, ""},
		{"the warehouse and the lake (--lake)", []string{"run", "--lake", "s3://markets/lake", "--job", "currency", "--end", "2025-01-08"}, both, 0,
			`"rowsWritten": 10`, ""}, // the warehouse catches up over the default week; the lake holds it already
		{"lake check", []string{"lake", "check", "--format", "csv"}, lakeOnly, 0, "currency/year=2024/FRED.DEXUSEU.parquet", "lake check: 5/5 objects"},
		{"lake check without a lake", []string{"lake", "check"}, env{}, 1, "", "etl: LAKE_URL is not set: name the lake with it or --lake"},
		{"a lake that is not there", []string{"run", "--job", "currency"}, lakeOnly.with("LAKE_URL", "s3://nope/lake"), 1, "", "open lake s3://nope/lake"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, tc.env.get, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, want %d\nstdout (want %q):\n%s\nstderr (want %q):\n%s", code, tc.code, tc.stdout, stdout.String(), tc.stderr, stderr.String())
			}
		})
	}
}

// kmsEnv is the settings of the function as deployed: the secrets as KMS
// ciphertexts for the function, the replay servers, a fresh database whose
// URL carries a password (trust auth ignores it; it must never be printed).
type kmsEnv struct {
	env
	t      testing.TB // the test that made it
	kms    *testenv.KMS
	quandl *quandltest.Server
	fred   *fredtest.Server
	dsn    string
}

func newKMSEnv(t *testing.T) *kmsEnv {
	t.Helper()
	k := &kmsEnv{t: t, kms: testenv.LocalKMS(t), quandl: quandltest.NewServer(t, quandlKey), fred: fredtest.NewServer(t, fredKey)}
	u, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), dbPassword)
	k.dsn = u.String()
	k.env = env{
		"AWS_LAMBDA_FUNCTION_NAME": function, "QUANDL_BASE_URL": k.quandl.BaseURL, "FRED_BASE_URL": k.fred.BaseURL,
		"QUANDL_API_KEY": k.encrypt(quandlKey, function), "FRED_API_KEY": k.encrypt(fredKey, function),
		"DATABASE_URL": k.encrypt(k.dsn, function),
		// The SDK reads its own settings from the process environment.
	}
	return k
}

// encrypt returns the base64 ciphertext of plaintext for functionName, as
// the Lambda console's helper makes it, from local-kms.
func (k *kmsEnv) encrypt(plaintext, functionName string) string {
	k.t.Helper()
	return k.kms.Encrypt(k.t, plaintext, functionName)
}

// app builds the function's App as a cold start does, with the clock at now.
func (k *kmsEnv) app(t *testing.T, e env, now time.Time) (*etl.App, *lockedBuffer, *bytes.Buffer) {
	t.Helper()
	logs, metrics := &lockedBuffer{}, &bytes.Buffer{}
	w, err := newWiring(e.get, "", slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := w.appConfig(context.Background(), metrics)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Now = func() time.Time { return now }
	app, err := etl.NewApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	return app, logs, metrics
}

// assertNoSecrets fails if a secret, plain or as ciphertext, is in texts.
func (k *kmsEnv) assertNoSecrets(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, secret := range []string{quandlKey, fredKey, dbPassword, k.dsn, k.env["QUANDL_API_KEY"], k.env["FRED_API_KEY"], k.env["DATABASE_URL"]} {
			if strings.Contains(s, secret) {
				t.Errorf("secret %q leaked in:\n%s", secret, s)
			}
		}
	}
}

// TestLambdaWiring drives the function's App as wired for Lambda, through
// KMS, the replay servers and PostgreSQL, over several invocations of one
// cold start: each secret the catalog needs is decrypted once; FRED's only
// when the catalog has FRED series.
func TestLambdaWiring(t *testing.T) {
	k := newKMSEnv(t)
	now := time.Date(2025, 1, 10, 12, 0, 0, 0, time.UTC)

	t.Run("maintained catalog", func(t *testing.T) {
		e := k.with("ETL_CATALOG", "catalogs/maintained.json", "LAMBDA_TASK_ROOT", root(t))
		app, logs, metrics := k.app(t, e, now)
		before := k.kms.Calls("Decrypt")
		answer, err := app.Invoke(context.Background(), []byte(`{"jobs": ["currency", "real_estate"], "startDate": "2024-06-01"}`))
		if err != nil {
			t.Fatal(err)
		}
		var sum etl.Summary
		if err := json.Unmarshal(answer, &sum); err != nil || !sum.OK || sum.RowsWritten != 105 || sum.Jobs[0].Tickers[0].Code != "DEXUSEU" {
			t.Fatalf("answer %s (%v)", answer, err)
		}
		if _, err := app.Invoke(context.Background(), []byte(`{"jobs": ["economics"]}`)); err != nil {
			t.Fatal(err)
		}
		if n := k.kms.Calls("Decrypt") - before; n != 3 {
			t.Errorf("%d KMS Decrypt calls over 2 invocations, want 3: the three secrets, once", n)
		}
		if n := strings.Count(metrics.String(), `"Namespace":"CheckoutReports"`); n != 3 {
			t.Errorf("%d EMF lines, want one per job of each run (2 + 1)", n)
		}
		k.assertNoSecrets(t, string(answer), logs.String(), metrics.String())
	})

	t.Run("default catalog does not decrypt the FRED key", func(t *testing.T) {
		app, logs, _ := k.app(t, k.env, time.Date(2017, 12, 8, 12, 0, 0, 0, time.UTC))
		before := k.kms.Calls("Decrypt")
		sum, err := app.Handle(context.Background(), json.RawMessage(`{"jobs": ["currency"]}`))
		if err != nil || !sum.OK {
			t.Fatalf("%v %+v", err, sum)
		}
		if n := k.kms.Calls("Decrypt") - before; n != 2 {
			t.Errorf("%d KMS Decrypt calls, want 2: no FRED series, no FRED key", n)
		}
		if n := strings.Count(logs.String(), `"msg":"warehouse migrated"`); n != 1 {
			t.Errorf("migrated %d times, want once per cold start", n)
		}
	})
}

// TestSetupFailures checks that a run that cannot start says why without
// printing a secret, and tries again on the next invocation.
func TestSetupFailures(t *testing.T) {
	tests := []struct {
		name    string
		env     func(k *kmsEnv) env
		wantErr string
	}{
		{name: "ciphertext for another function", env: func(k *kmsEnv) env {
			return k.with("DATABASE_URL", k.encrypt(k.dsn, "another-function"))
		}, wantErr: "decrypt DATABASE_URL with KMS"},
		{name: "plaintext secret without SECRETS_PLAINTEXT", env: func(k *kmsEnv) env { return k.with("DATABASE_URL", k.dsn) },
			wantErr: "decrypt DATABASE_URL: not a base64 KMS ciphertext"},
		{name: "database unreachable", env: func(k *kmsEnv) env {
			return k.with("DATABASE_URL", k.encrypt("postgres://etl_user:"+dbPassword+"@127.0.0.1:1/dw?connect_timeout=2", function))
		}, wantErr: "open warehouse: connect to database"},
		{name: "API key rejected by KMS", env: func(k *kmsEnv) env { return k.with("QUANDL_API_KEY", k.encrypt(quandlKey, "x")) },
			wantErr: "decrypt QUANDL_API_KEY with KMS"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			k := newKMSEnv(t)
			app, logs, _ := k.app(t, tc.env(k), time.Date(2017, 12, 8, 12, 0, 0, 0, time.UTC))
			for range 2 {
				_, err := app.Handle(context.Background(), json.RawMessage(`{"jobs": ["currency"]}`))
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				k.assertNoSecrets(t, err.Error(), logs.String())
				if strings.Contains(err.Error(), "etl_user") {
					t.Errorf("error %q names the database user", err)
				}
			}
			if n := len(k.quandl.Requests()); n != 0 {
				t.Errorf("%d Quandl requests, want none before setup succeeds", n)
			}
		})
	}
}

// TestDatabaseUserNamedDW: errors keep their text. Secrets are not scrubbed
// out of texts afterwards (which once turned dw.currency into
// REDACTED.currency for a user named dw): each adapter keeps its own out.
func TestDatabaseUserNamedDW(t *testing.T) {
	k := newKMSEnv(t)
	u, _ := url.Parse(k.dsn)
	ctx := context.Background()
	var out bytes.Buffer
	if code := run(ctx, []string{"migrate"}, env{"SECRETS_PLAINTEXT": "true", "DATABASE_URL": k.dsn}.get, &out, &out); code != 0 {
		t.Fatalf("migrate: %s", out.String())
	}
	conn, err := pgx.Connect(ctx, k.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		`DO $$ BEGIN CREATE ROLE dw LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
		`DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO dw', current_database()); END $$`,
		`GRANT USAGE, CREATE ON SCHEMA dw TO dw`,
		`GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA dw TO dw`,
		`REVOKE INSERT, UPDATE ON dw.currency FROM dw`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	u.User = url.UserPassword("dw", dbPassword)
	app, logs, _ := k.app(t, k.with("DATABASE_URL", k.encrypt(u.String(), function)), time.Date(2017, 12, 8, 12, 0, 0, 0, time.UTC))
	sum, err := app.Handle(ctx, json.RawMessage(`{"jobs": ["currency"]}`))
	if err == nil || !strings.Contains(err.Error(), "upsert CURRFX/EURUSD: dw.currency: ERROR: permission denied for table currency") {
		t.Fatalf("error = %v, want the SQL error naming dw.currency", err)
	}
	if ts := sum.Jobs[0].Tickers[0]; ts.Reason != etl.ReasonSink || strings.Contains(ts.Error, "REDACTED") {
		t.Errorf("ticker %+v", ts)
	}
	k.assertNoSecrets(t, err.Error(), logs.String())
}

// lockedBuffer is a bytes.Buffer safe for concurrent log writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
