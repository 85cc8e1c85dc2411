package etl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmecheckout/reports/internal/etl"
	"github.com/acmecheckout/reports/internal/golden"
	"github.com/acmecheckout/reports/internal/quandl/quandltest"
	"github.com/acmecheckout/reports/internal/testenv"
	"github.com/acmecheckout/reports/internal/warehouse"
)

const (
	function   = "markets-etl"
	apiKey     = "qk-9d8c7b6a5f4e3d2c1b0a"
	dbPassword = "pg-s3cret-pw"
	pingToken  = "0f3c9a2e-hc-token"
)

// fixture is the ETL wired as in Lambda: secrets as KMS ciphertexts, Quandl
// replayed from testdata/quandl, a fresh PostgreSQL database, a health check.
type fixture struct {
	quandl   *quandltest.Server
	kms      *testenv.KMS
	dsn      string
	pings    atomic.Int32
	pingFail atomic.Bool
	logs     *lockedBuffer
	now      time.Time
}

// newFixture sets the environment; plaintext stores the secrets in clear
// (SECRETS_PLAINTEXT=true) instead of as KMS ciphertexts.
func newFixture(t *testing.T, plaintext bool) *fixture {
	t.Helper()
	f := &fixture{logs: &lockedBuffer{}, now: time.Date(2017, 12, 7, 21, 0, 0, 0, time.FixedZone("EST", -5*3600))}
	f.kms = testenv.LocalKMS(t)
	u, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), dbPassword) // trust auth ignores it; it must never be printed
	f.dsn = u.String()
	f.quandl = quandltest.NewServer(t, apiKey)
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ping/"+pingToken || f.pingFail.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		f.pings.Add(1)
	}))
	t.Cleanup(health.Close)

	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", function)
	t.Setenv("QUANDL_BASE_URL", f.quandl.BaseURL)
	t.Setenv("HEALTHCHECK_URL", health.URL+"/ping/"+pingToken)
	t.Setenv("QUANDL_CONCURRENCY", "")
	if plaintext {
		t.Setenv("SECRETS_PLAINTEXT", "true")
		t.Setenv("QUANDL_API_KEY", apiKey)
		t.Setenv("DATABASE_URL", f.dsn)
	} else {
		t.Setenv("SECRETS_PLAINTEXT", "")
		t.Setenv("QUANDL_API_KEY", f.kms.Encrypt(t, apiKey, function))
		t.Setenv("DATABASE_URL", f.kms.Encrypt(t, f.dsn, function))
	}
	return f
}

// deps are the App's dependencies as cmd/etl wires them, logging to f.logs.
func (f *fixture) deps() etl.Deps {
	return etl.Deps{
		Getenv: os.Getenv,
		Open:   func(ctx context.Context, u string) (etl.Warehouse, error) { return warehouse.Open(ctx, u) },
		Logger: slog.New(slog.NewJSONHandler(f.logs, nil)),
		Now:    func() time.Time { return f.now },
	}
}

// mustApp builds the App as cmd/etl does (a cold start).
func (f *fixture) mustApp(t *testing.T) *etl.App {
	t.Helper()
	app, err := etl.NewApp(context.Background(), f.deps())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	return app
}

// assertNoSecrets fails if any secret shows in the logs or in texts.
func (f *fixture) assertNoSecrets(t *testing.T, texts ...string) {
	t.Helper()
	all := append(texts, f.logs.String())
	for _, s := range all {
		for _, secret := range []string{apiKey, dbPassword, f.dsn, pingToken} {
			if strings.Contains(s, secret) {
				t.Errorf("secret %q leaked in:\n%s", secret, s)
			}
		}
	}
}

func (f *fixture) mustQueryString(t *testing.T, sql string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// tableCounts returns "table=rows ..." of the dw tables.
func (f *fixture) tableCounts(t *testing.T) string {
	t.Helper()
	return f.mustQueryString(t, `SELECT concat_ws(' ',
		'markets='||(SELECT count(*) FROM dw.markets), 'currency='||(SELECT count(*) FROM dw.currency),
		'economics='||(SELECT count(*) FROM dw.economics), 'equities='||(SELECT count(*) FROM dw.equities),
		'interest_rates='||(SELECT count(*) FROM dw.interest_rates), 'real_estate='||(SELECT count(*) FROM dw.real_estate))`)
}

func mustHandle(t *testing.T, app *etl.App, event string) (etl.Summary, error) {
	t.Helper()
	return app.Handle(context.Background(), json.RawMessage(event))
}

// TestHandleEndToEnd drives the Lambda handler through KMS, Quandl and
// PostgreSQL over several invocations of one cold start.
func TestHandleEndToEnd(t *testing.T) {
	f := newFixture(t, false)
	f.quandl.Queue("WIKI/FB", quandltest.Response{Status: http.StatusNotFound, Body: f.quandl.ErrorBody(t, "QECx02")})
	app := f.mustApp(t)

	// 1. Defaults: all jobs, the last 7 days ending today UTC (2017-12-08,
	// though it is still the 7th in New York), real estate 90; WIKI/FB
	// fails, every other dataset still loads.
	sum, err := mustHandle(t, app, `{}`)
	if err == nil || !strings.Contains(err.Error(), "1 of 14 datasets failed: WIKI/FB: fetch WIKI/FB") || !strings.Contains(err.Error(), "QECx02") {
		t.Fatalf("error = %v, want WIKI/FB to fail with its reason", err)
	}
	golden.JSON(t, "testdata/summary_one_failed.json", sum)
	assertSummaryLogged(t, f.logs.String(), "markets etl failed", sum)
	const loaded = "markets=13 currency=10 economics=7 equities=15 interest_rates=80 real_estate=3"
	if got := f.tableCounts(t); got != loaded {
		t.Errorf("tables: %s\nwant    %s", got, loaded)
	}
	if !strings.Contains(f.logs.String(), `"msg":"markets etl failed"`) || f.pings.Load() != 0 {
		t.Errorf("a failed run must log its summary and not ping (%d pings)", f.pings.Load())
	}

	// 2. The same window again, as Lambda invokes with an empty payload (the
	// defaults): only WIKI/FB is new; nothing else changes.
	answer, err := app.Invoke(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sum = etl.Summary{}
	if err := json.Unmarshal(answer, &sum); err != nil {
		t.Fatalf("answer %s: %v", answer, err)
	}
	golden.JSON(t, "testdata/summary_rerun.json", sum)
	if got, want := f.tableCounts(t), strings.Replace(strings.Replace(loaded, "markets=13", "markets=14", 1), "equities=15", "equities=20", 1); got != want {
		t.Errorf("tables: %s\nwant    %s", got, want)
	}
	if f.pings.Load() != 1 {
		t.Errorf("%d health pings after a successful run, want 1", f.pings.Load())
	}

	// 3. An upstream revision updates its row, and only it.
	f.quandl.SetValue(t, "CURRFX/EURUSD", "2017-12-07", "Rate", "1.17945")
	f.quandl.SetValue(t, "CURRFX/EURUSD", "2017-12-05", "High (est)", "null")
	sum, err = mustHandle(t, app, `{"jobs": ["currency"], "startDate": "2017-12-02", "endDate": "2017-12-08"}`)
	if err != nil {
		t.Fatal(err)
	}
	if sum.RowsWritten != 2 || sum.Jobs[0].RowsFetched != 10 {
		t.Errorf("revision: %d rows written of %d fetched, want 2 of 10", sum.RowsWritten, sum.Jobs[0].RowsFetched)
	}
	if got := f.mustQueryString(t, `SELECT rate::text||' '||coalesce(high_est::text, 'NULL')||' '||currency FROM dw.currency WHERE ticker = 'EURUSD' AND date = '2017-12-07'`); got != "1.17945 1.162 EUR" {
		t.Errorf("EURUSD 2017-12-07 = %s, want the revised rate kept exactly", got)
	}
	if got := f.mustQueryString(t, `SELECT coalesce(high_est::text, 'NULL') FROM dw.currency WHERE ticker = 'EURUSD' AND date = '2017-12-05'`); got != "NULL" {
		t.Errorf("EURUSD 2017-12-05 high_est = %s, want NULL", got)
	}

	// 4. A failing health check is logged, not fatal.
	f.pingFail.Store(true)
	if _, err := mustHandle(t, app, `{"jobs": ["currency"]}`); err != nil {
		t.Errorf("a failed ping failed the run: %v", err)
	}
	if !strings.Contains(f.logs.String(), "health check ping failed") {
		t.Error("the failed ping was not logged")
	}

	// Once per cold start: two secrets, two KMS calls, however many runs.
	if n := f.kms.Calls("Decrypt"); n != 2 {
		t.Errorf("%d KMS Decrypt calls over 4 invocations, want 2", n)
	}
	if n := strings.Count(f.logs.String(), `"msg":"warehouse migrated"`); n != 1 {
		t.Errorf("migrated %d times, want once per cold start", n)
	}
	f.assertNoSecrets(t, err2s(err))
}

// TestHandleRejectsInput checks validation against testdata/invalid_inputs.json
// (each case an event, or a raw payload that is not one JSON document):
// nothing is decrypted, fetched or written.
func TestHandleRejectsInput(t *testing.T) {
	f := newFixture(t, false)
	app := f.mustApp(t)
	var cases []struct {
		Event json.RawMessage `json:"event"`
		Raw   string          `json:"raw"`
		Error string          `json:"error"`
	}
	mustReadJSON(t, "invalid_inputs.json", &cases)
	for i, tc := range cases {
		payload := []byte(tc.Event)
		if tc.Raw != "" {
			payload = []byte(tc.Raw)
		}
		t.Run(fmt.Sprintf("%d %s", i, payload), func(t *testing.T) {
			_, err := app.Invoke(context.Background(), payload)
			if err == nil || err.Error() != tc.Error {
				t.Errorf("error = %v\nwant    %s", err, tc.Error)
			}
		})
	}
	if n := len(f.quandl.Requests()) + f.kms.Calls("Decrypt"); n != 0 {
		t.Errorf("%d requests to Quandl and KMS for invalid input, want none", n)
	}
}

// TestSetupFailures checks that a run that cannot start says why without
// printing a secret, and tries again on the next invocation.
func TestSetupFailures(t *testing.T) {
	tests := []struct {
		name    string
		env     func(t testing.TB, f *fixture) map[string]string
		wantErr string
	}{
		{name: "ciphertext for another function", env: func(t testing.TB, f *fixture) map[string]string {
			return map[string]string{"DATABASE_URL": f.kms.Encrypt(t, f.dsn, "another-function")}
		}, wantErr: "decrypt DATABASE_URL with KMS"},
		{name: "plaintext secret without SECRETS_PLAINTEXT", env: func(t testing.TB, f *fixture) map[string]string {
			return map[string]string{"DATABASE_URL": f.dsn}
		}, wantErr: "decrypt DATABASE_URL: not a base64 KMS ciphertext"},
		{name: "missing API key", env: func(t testing.TB, f *fixture) map[string]string {
			return map[string]string{"QUANDL_API_KEY": ""}
		}, wantErr: "QUANDL_API_KEY is not set"},
		{name: "database unreachable", env: func(t testing.TB, f *fixture) map[string]string {
			return map[string]string{"DATABASE_URL": f.kms.Encrypt(t, "postgres://etl_user:"+dbPassword+"@127.0.0.1:1/dw?connect_timeout=2", function)}
		}, wantErr: "open warehouse: connect to database"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			f := newFixture(t, false)
			for k, v := range tc.env(t, f) {
				t.Setenv(k, v)
			}
			app := f.mustApp(t)
			for range 2 {
				_, err := mustHandle(t, app, `{"jobs": ["currency"]}`)
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				t.Log(err)
				f.assertNoSecrets(t, err.Error())
				if strings.Contains(err.Error(), "etl_user") {
					t.Errorf("error %q names the database user", err)
				}
			}
			if n := len(f.quandl.Requests()); n != 0 {
				t.Errorf("%d Quandl requests, want none before setup succeeds", n)
			}
		})
	}
}

// TestBadAPIKey: every dataset fails with the API's answer, none with the key.
func TestBadAPIKey(t *testing.T) {
	f := newFixture(t, false)
	t.Setenv("QUANDL_API_KEY", f.kms.Encrypt(t, "qk-wrong-key-123", function))
	app := f.mustApp(t)
	sum, err := mustHandle(t, app, `{"jobs": ["currency", "real_estate"]}`)
	if err == nil || sum.Failed != 3 {
		t.Fatalf("error = %v with %d failures, want all 3 datasets to fail", err, sum.Failed)
	}
	for _, j := range sum.Jobs {
		for _, tk := range j.Tickers {
			if !strings.Contains(tk.Error, "HTTP 400 QEAx01: We could not recognize your API key") {
				t.Errorf("%s/%s: error %q", tk.Dataset, tk.Ticker, tk.Error)
			}
		}
	}
	if !strings.HasPrefix(err.Error(), "markets etl: 3 of 3 datasets failed: CURRFX/EURUSD: ") || strings.Count(err.Error(), "QEAx01") != 3 {
		t.Errorf("error = %v, want each dataset with its reason", err)
	}
	b, _ := json.Marshal(sum)
	f.assertNoSecrets(t, err.Error(), string(b))
	if strings.Contains(f.logs.String()+string(b)+err.Error(), "qk-wrong-key-123") {
		t.Error("the rejected API key leaked")
	}
}

// TestCLI runs the command outside Lambda with plaintext secrets.
func TestCLI(t *testing.T) {
	f := newFixture(t, true)
	t.Setenv("QUANDL_CONCURRENCY", "4")
	tests := []struct {
		name     string
		args     []string
		wantErr  error
		requests int // to Quandl
		stderr   string
	}{
		{name: "migrate", args: []string{"migrate"}, stderr: "warehouse migrated"},
		{name: "unknown job", args: []string{"run", "--job", "crypto"}, wantErr: etl.ErrInvalidInput},
		{name: "long window in yearly chunks", args: []string{"run", "--job", "currency", "--job", "interest_rates", "--start", "2016-01-01", "--end", "2017-12-08"},
			requests: 10, stderr: `"chunk":"2/2"`},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			before := len(f.quandl.Requests())
			var stdout, stderr bytes.Buffer
			cli := &etl.CLI{Deps: f.deps(), Stdout: &stdout, Stderr: &stderr}
			err := cli.Run(context.Background(), tc.args)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if n := len(f.quandl.Requests()) - before; n != tc.requests {
				t.Errorf("%d Quandl requests, want %d", n, tc.requests)
			}
			if !strings.Contains(stderr.String()+f.logs.String(), tc.stderr) {
				t.Errorf("stderr and logs lack %q:\n%s", tc.stderr, stderr.String())
			}
			if tc.requests > 0 {
				var sum etl.Summary
				if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil || !sum.OK || sum.RowsWritten != 270 {
					t.Errorf("summary %s (%v): want ok with 270 rows written", stdout.String(), err)
				}
			}
		})
	}
	f.assertNoSecrets(t)
}

// TestCLIWithoutConfig runs the command in a shell with no settings at all:
// help and usage errors need none, input is validated before configuration,
// and the configuration is checked only by a command that runs, before it
// connects to anything.
func TestCLIWithoutConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		help    bool   // usage on stdout, no error
		wantErr error  // else the error matches wantErr
		errText string // and contains errText
		stderr  string // and stderr contains stderr
	}{
		{name: "help", help: true, args: []string{"help"}},
		{name: "-h", help: true, args: []string{"-h"}},
		{name: "--help", help: true, args: []string{"--help"}},
		{name: "run -h", help: true, args: []string{"run", "-h"}},
		{name: "run --help after flags", help: true, args: []string{"run", "--job", "currency", "--help"}},
		{name: "migrate -help", help: true, args: []string{"migrate", "-help"}},
		{name: "no command", wantErr: etl.ErrUsage, stderr: "usage:"},
		{name: "unknown command", args: []string{"frob"}, wantErr: etl.ErrUsage, stderr: "unknown command \"frob\"\nusage:"},
		{name: "unknown flag", args: []string{"run", "--jobs", "currency"}, wantErr: etl.ErrUsage, stderr: "flag provided but not defined: -jobs\nusage:"},
		{name: "flag without value", args: []string{"run", "--start"}, wantErr: etl.ErrUsage, stderr: "flag needs an argument: -start\nusage:"},
		{name: "stray argument", args: []string{"run", "currency"}, wantErr: etl.ErrUsage, stderr: "unexpected arguments \"currency\"\nusage:"},
		{name: "migrate with an argument", args: []string{"migrate", "now"}, wantErr: etl.ErrUsage, stderr: "unexpected arguments \"now\"\nusage:"},
		{name: "invalid input before config", args: []string{"run", "--job", "crypto"}, wantErr: etl.ErrInvalidInput},
		{name: "run checks config", args: []string{"run", "--job", "currency"}, errText: "AWS_LAMBDA_FUNCTION_NAME is not set"},
		{name: "migrate checks config", args: []string{"migrate"}, errText: "AWS_LAMBDA_FUNCTION_NAME is not set"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			cli := &etl.CLI{
				Deps: etl.Deps{
					Getenv: func(string) string { return "" },
					Open: func(context.Context, string) (etl.Warehouse, error) {
						t.Error("the warehouse was opened")
						return nil, errors.New("no warehouse")
					},
				},
				Stdout: &stdout, Stderr: &stderr,
			}
			err := cli.Run(context.Background(), tc.args)
			if tc.help {
				if err != nil || !strings.HasPrefix(stdout.String(), "usage:\n  etl run") || stderr.Len() != 0 {
					t.Errorf("error = %v\nstdout:\n%s\nstderr:\n%s\nwant nil, the usage on stdout only", err, stdout.String(), stderr.String())
				}
				return
			}
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.errText) ||
				!strings.Contains(stderr.String(), tc.stderr) || stdout.Len() != 0 {
				t.Errorf("error = %v\nstdout:\n%s\nstderr:\n%s\nwant an error (%v, %q), stderr with %q", err, stdout.String(), stderr.String(), tc.wantErr, tc.errText, tc.stderr)
			}
		})
	}
}

// assertSummaryLogged checks that logs hold exactly one line msg, with the
// error and the whole summary as structured JSON.
func assertSummaryLogged(t *testing.T, logs, msg string, want etl.Summary) {
	t.Helper()
	var found int
	for line := range strings.Lines(logs) {
		var rec struct {
			Msg     string          `json:"msg"`
			Error   string          `json:"error"`
			Summary json.RawMessage `json:"summary"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		if rec.Msg != msg {
			continue
		}
		found++
		if rec.Error != want.Err().Error() {
			t.Errorf("logged error %q, want %q", rec.Error, want.Err())
		}
		b, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		golden.JSONEqual(t, "logged summary", rec.Summary, b)
	}
	if found != 1 {
		t.Errorf("%d log lines %q, want 1", found, msg)
	}
}

func err2s(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func mustReadJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
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
