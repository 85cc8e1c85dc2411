package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/lake"
	"github.com/acmecheckout/reports/internal/lambdatest"
	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/testenv"
	"github.com/acmecheckout/reports/internal/warehouse/warehousetest"
)

const merchantA, merchantB = "1bb53ed1-787b-4543-9def-ea18eef7902e", "7c9e6679-7425-40de-944b-e07fc1f90ae7"

// startDynamoDB points the SDK's standard settings at the test binary's
// DynamoDB Local and returns a client.
func startDynamoDB(t testing.TB) *dynamodb.Client {
	t.Helper()
	testenv.DynamoDBLocal(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return dynamodb.NewFromConfig(cfg)
}

// mustDatapoints counts three purchases of 2011-12-03 into a fresh
// datapoints table, through the store the aggregator uses, and returns its name.
func mustDatapoints(t testing.TB) string {
	t.Helper()
	c := startDynamoDB(t)
	table, _ := testenv.Tables(t, c, false)
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	events := []purchase.Event{
		{Time: at("2011-12-03T10:15:30Z"), Amount: 4285, Method: purchase.SliceIt, MerchantID: merchantA},
		{Time: at("2011-12-03T10:45:00Z"), Amount: 1500, Method: purchase.PayNow, MerchantID: merchantA},
		{Time: at("2011-12-03T11:00:00Z"), Amount: 60000, Method: purchase.PayLater, MerchantID: merchantB},
	}
	var ds []purchase.Delivery
	for i, e := range events {
		ds = append(ds, purchase.Delivery{Identity: fmt.Sprint("m", i), Event: e})
	}
	res, err := dynamo.New(c, table).Add(context.Background(), ds)
	if err != nil || len(res.Failed) > 0 {
		t.Fatalf("count: %v %v", err, res.Failed)
	}
	return table
}

// mustWarehouse loads two currency series into a fresh warehouse and returns
// its URL.
func mustWarehouse(t testing.TB) string {
	t.Helper()
	d := func(s string) markets.Date { v, _ := markets.ParseDate(s); return v }
	return warehousetest.Load(t,
		markets.Series{Dataset: markets.Currency.Datasets()[0], Columns: []string{"rate", "high_est", "low_est"}, Rows: []markets.Row{
			{Date: d("2017-12-01"), Values: []string{"1.1794", "1.1961", "1.1712"}},
			{Date: d("2017-12-04"), Values: []string{"1.18650000000000000001", "", ""}},
		}},
		markets.Series{Dataset: markets.Currency.Datasets()[1], Columns: []string{"rate"}, Rows: []markets.Row{
			{Date: d("2017-12-01"), Values: []string{"1.3517"}},
			{Date: d("2017-12-04"), Values: []string{"1.3446"}},
		}},
	)
}

// Answers the fixtures give.
const (
	latestBody = `{"body":[` +
		`{"dataset":"CURRFX","ticker":"EURUSD","currency":"EUR","date":"2017-12-04","rate":"1.18650000000000000001","high_est":null,"low_est":null},` +
		`{"dataset":"CURRFX","ticker":"GBPUSD","currency":"GBP","date":"2017-12-04","rate":"1.3446","high_est":null,"low_est":null}]}`
	dayMerchantBody = `{"body":[{"datapoint":"2011-12-03|` + merchantA + `","events":2},{"datapoint":"2011-12-03|` + merchantB + `","events":1}]}`
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestRunCommandLine(t *testing.T) {
	testenv.AWSEnv(t)
	testCases := []struct {
		name       string
		args       []string
		getenv     func(string) string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"help", []string{"help"}, env(), exitOK, "usage:\n  api serve", ""},
		{"--help", []string{"--help"}, env(), exitOK, "CORS_ALLOW_ORIGIN", ""},
		{"serve --help", []string{"serve", "--help"}, env(), exitOK, "", "-addr HOST:PORT"},
		{"no command", nil, env(), exitUsage, "", "usage:"},
		{"unknown command", []string{"start"}, env(), exitUsage, "", `api: unknown command "start"`},
		{"bad flag", []string{"serve", "--port", "80"}, env(), exitUsage, "", "flag provided but not defined: -port"},
		{"extra argument", []string{"serve", "now"}, env(), exitUsage, "", `api: unexpected arguments ["now"]`},
		{"nothing to serve", []string{"serve"}, env(), exitFailed, "", "api: nothing to serve: set TABLE_NAME (reports), DATABASE_URL or LAKE_URL (markets data)"},
		{"bad SECRETS_PLAINTEXT", []string{"serve"}, env("DATABASE_URL", "postgres://u:pw@h/db", "SECRETS_PLAINTEXT", "yes"), exitFailed, "", `SECRETS_PLAINTEXT "yes": want true or false`},
		{"ciphertext without a function name", []string{"serve"}, env("DATABASE_URL", "AQICAHh="), exitFailed, "", "AWS_LAMBDA_FUNCTION_NAME is not set"},
		{"malformed database URL", []string{"serve"}, env("DATABASE_URL", "postgres://u:s3cret@h:99999999/db", "SECRETS_PLAINTEXT", "true"), exitFailed, "", "the database URL is malformed"},
		{"lake URL without a prefix", []string{"serve"}, env("LAKE_URL", "s3://bucket"), exitFailed, "", `api: LAKE_URL: invalid lake URL "s3://bucket"`},
		{"address in use", []string{"serve", "--addr", "256.0.0.1:1"}, env("TABLE_NAME", "t"), exitFailed, "", "api: listen:"},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, tc.getenv, &stdout, &stderr)
			if code != tc.wantCode || !strings.Contains(stdout.String(), tc.wantStdout) || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("exit %d, want %d\nstdout (want %q):\n%s\nstderr (want %q):\n%s", code, tc.wantCode, tc.wantStdout, &stdout, tc.wantStderr, &stderr)
			}
			if strings.Contains(stdout.String()+stderr.String(), "s3cret") {
				t.Error("a secret reached the output")
			}
		})
	}
}

// TestServe runs `api serve` in process against DynamoDB and PostgreSQL and
// reads it over HTTP, as a person with curl would.
// served is `api serve` running in the test's process.
type served struct {
	base   string
	cancel context.CancelFunc
	done   chan int
	stderr *bytes.Buffer // read once run has returned
}

// mustServe runs `api serve` with getenv on a free port and waits until it answers.
func mustServe(t *testing.T, getenv func(string) string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &served{cancel: cancel, done: make(chan int, 1), stderr: &bytes.Buffer{}}
	addr := "127.0.0.1:" + testenv.FreePort(t)
	s.base = "http://" + addr
	go func() { s.done <- run(ctx, []string{"serve", "--addr", addr}, getenv, io.Discard, s.stderr) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(s.base + "/api/")
		if err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case code := <-s.done:
			t.Fatalf("api serve exited %d:\n%s", code, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			<-s.done
			t.Fatalf("api serve did not start:\n%s", s.stderr)
		}
	}
}

// stop interrupts the server, as Ctrl-C does, and checks it exits 0.
func (s *served) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		if code != exitOK {
			t.Errorf("exit %d after Ctrl-C, want 0\n%s", code, s.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("api serve did not stop")
	}
}

// mustGet GETs path (with an Origin header) and checks the answer is 200 want.
func (s *served) mustGet(t *testing.T, path, want string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	req.Header.Set("Origin", "http://localhost:5173")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != want {
		t.Errorf("GET %s = %d %s (headers %v)\nwant 200 %s", path, resp.StatusCode, body, resp.Header, want)
	}
	return resp
}

func TestServe(t *testing.T) {
	table, dbURL := mustDatapoints(t), mustWarehouse(t)
	getenv := env("TABLE_NAME", table, "DATABASE_URL", dbURL, "SECRETS_PLAINTEXT", "true", "CORS_ALLOW_ORIGIN", "http://localhost:5173")
	s := mustServe(t, getenv)
	for _, tc := range []struct{ path, want string }{
		{"/api/currency/latest", latestBody},
		{"/api/reports/day-merchant?day=2011-12-03", dayMerchantBody},
		{"/api/datapoints/2011-12-03:10%7C10-50", `{"datapoint":"2011-12-03:10|10-50","events":2}`},
	} {
		if resp := s.mustGet(t, tc.path, tc.want); resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
			t.Errorf("GET %s: Access-Control-Allow-Origin %q", tc.path, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	s.stop(t)
	for _, want := range []string{"api: serving " + s.base + "/api/", `"msg":"request"`} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, s.stderr)
		}
	}
}

// TestServeFromLake serves the markets data from the lake's Parquet objects
// when there is no DATABASE_URL (SPEC §8), through the S3 protocol.
func TestServeFromLake(t *testing.T) {
	testenv.GoFakeS3(t, "lake")
	ctx := context.Background()
	l, err := lake.Open(ctx, "s3://lake/markets")
	if err != nil {
		t.Fatal(err)
	}
	d := func(s string) markets.Date { v, _ := markets.ParseDate(s); return v }
	for _, s := range []markets.Series{
		{Dataset: markets.Currency.Datasets()[0], Columns: []string{"rate", "high_est", "low_est"}, Rows: []markets.Row{
			{Date: d("2016-12-30"), Values: []string{"1.0541", "1.0613", "1.0469"}},
			{Date: d("2017-12-01"), Values: []string{"1.1794", "1.1961", "1.1712"}},
			{Date: d("2017-12-04"), Values: []string{"1.1865", "", ""}},
		}},
		{Dataset: markets.Currency.Datasets()[1], Columns: []string{"rate"}, Rows: []markets.Row{
			{Date: d("2017-12-01"), Values: []string{"1.3517"}},
		}},
	} {
		b, err := markets.Layout(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Upsert(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	s := mustServe(t, env("LAKE_URL", "s3://lake/markets"))
	s.mustGet(t, "/api/currency/latest", `{"body":[`+
		`{"dataset":"CURRFX","ticker":"EURUSD","currency":"EUR","date":"2017-12-04","rate":"1.1865","high_est":null,"low_est":null},`+
		`{"dataset":"CURRFX","ticker":"GBPUSD","currency":"GBP","date":"2017-12-01","rate":"1.3517","high_est":null,"low_est":null}]}`)
	s.mustGet(t, "/api/currency?ticker=EURUSD&start=2016-12-01&end=2017-12-01", `{"body":[`+
		`{"dataset":"CURRFX","ticker":"EURUSD","currency":"EUR","date":"2016-12-30","rate":"1.0541","high_est":"1.0613","low_est":"1.0469"},`+
		`{"dataset":"CURRFX","ticker":"EURUSD","currency":"EUR","date":"2017-12-01","rate":"1.1794","high_est":"1.1961","low_est":"1.1712"}],"next":null}`)
	s.stop(t)
}

// functionURLResponse is a Function URL response as the function streams it
// (RESPONSE_STREAM): a JSON prelude, eight NUL bytes, then the body.
type functionURLResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Cookies    []string          `json:"cookies"`
	Body       string            `json:"-"`
}

func parseFunctionURLResponse(t *testing.T, payload []byte) functionURLResponse {
	t.Helper()
	prelude, body, ok := bytes.Cut(payload, make([]byte, 8))
	var r functionURLResponse
	if !ok || json.Unmarshal(prelude, &r) != nil {
		t.Fatalf("not a Function URL streaming response: %q", payload)
	}
	r.Body = string(body)
	return r
}

// TestLambda runs the built bootstrap under the Lambda Runtime Interface
// Emulator with the Function URL request payloads of testdata/api, its
// database URL a local-kms ciphertext made for the function.
func TestLambda(t *testing.T) {
	table, dbURL := mustDatapoints(t), mustWarehouse(t)
	kms := testenv.LocalKMS(t)
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := lambdatest.Build(t, root, "./cmd/api", runtime.GOOS, runtime.GOARCH)
	const function = "reports-api"
	dir := t.TempDir()
	baseEnv := []string{
		"AWS_LAMBDA_FUNCTION_NAME=" + function,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=10",
		"AWS_REGION=" + testenv.Region,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_ENDPOINT_URL_DYNAMODB=" + os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"),
		"AWS_ENDPOINT_URL_KMS=" + kms.URL,
		"TZ=Pacific/Auckland",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("config error", func(t *testing.T) {
		fn := lambdatest.Emulate(t, bin, append(baseEnv, "TABLE_NAME="+table, "DATABASE_URL="+kms.Encrypt(t, dbURL, "another-function")))
		resp, err := fn.Invoke(ctx, mustRead(t, "datapoint.json"))
		if err != nil {
			t.Fatal(err)
		}
		if ie := resp.Err; ie == nil || ie.Type != "Runtime.ConfigError" || !strings.Contains(ie.Message, "decrypt DATABASE_URL") || strings.Contains(ie.Message, "postgres://") {
			t.Errorf("response %s, error %+v; want the init error Runtime.ConfigError", resp.Payload, resp.Err)
		}
		if !fn.WaitLog(ctx, "exited with error: exit status") {
			t.Errorf("the emulator does not report a non-zero exit:\n%s", fn.Log())
		}
	})

	decrypts := kms.Calls("Decrypt")
	fn := lambdatest.Emulate(t, bin, append(baseEnv, "TABLE_NAME="+table,
		"DATABASE_URL="+kms.Encrypt(t, dbURL, function), "CORS_ALLOW_ORIGIN=https://reports.example.com"))

	invoke := func(t *testing.T, payload []byte) functionURLResponse {
		t.Helper()
		resp, err := fn.Invoke(ctx, payload)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Err != nil {
			t.Fatalf("function error: %v", resp.Err)
		}
		return parseFunctionURLResponse(t, resp.Payload)
	}
	latest := invoke(t, mustRead(t, "currency-latest.json"))
	etag := latest.Headers["Etag"]

	const testdata = "../../testdata/api/"
	testCases := []struct {
		payload    string
		wantStatus int
		wantBody   string
		wantHeader map[string]string
	}{
		{"currency-latest.json", 200, latestBody, map[string]string{
			"Content-Type": "application/json", "Cache-Control": "private, max-age=60",
			"Access-Control-Allow-Origin": "https://reports.example.com", "Vary": "Origin"}},
		{"datapoint.json", 200, `{"datapoint":"2011-12-03:10|10-50","events":2}`, map[string]string{"Cache-Control": "private, no-cache"}},
		{"report-day.json", 200, dayMerchantBody, map[string]string{"Cache-Control": "private, no-cache"}},
		{"history-page.json", 200, `{"body":[` +
			`{"dataset":"CURRFX","ticker":"GBPUSD","currency":"GBP","date":"2017-12-01","rate":"1.3517","high_est":null,"low_est":null},` +
			`{"dataset":"CURRFX","ticker":"GBPUSD","currency":"GBP","date":"2017-12-04","rate":"1.3446","high_est":null,"low_est":null}],"next":null}`,
			map[string]string{"Cache-Control": "private, max-age=300"}},
		{"revalidate.json", 304, "", map[string]string{"Etag": etag}},
		{"head.json", 200, "", map[string]string{"Content-Type": "application/json"}},
		{"post.json", 405, `{"error":{"code":"method_not_allowed","message":"method POST is not allowed: use GET or HEAD"}}`, map[string]string{"Allow": "GET, HEAD, OPTIONS"}},
		{"missing-day.json", 400, `{"error":{"code":"invalid_request","message":"report hour-bracket is daily: it needs a day YYYY-MM-DD"}}`, map[string]string{"Cache-Control": "no-store"}},
		{"unknown-job.json", 404, `{"error":{"code":"not_found","message":"unknown job \"crypto\": want one of currency, economics, equities, interest_rates, real_estate"}}`, nil},
		{"preflight.json", 204, "", map[string]string{"Access-Control-Allow-Origin": "https://reports.example.com", "Access-Control-Allow-Methods": "GET, HEAD"}},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.payload), func(t *testing.T) {
			payload := bytes.ReplaceAll(mustRead(t, tc.payload), []byte(`"ETAG"`), []byte(mustJSON(t, etag)))
			var req struct {
				RequestContext struct {
					HTTP struct{ Method string } `json:"http"`
				} `json:"requestContext"`
				RawPath string `json:"rawPath"`
			}
			if err := json.Unmarshal(payload, &req); err != nil || req.RequestContext.HTTP.Method == "" || req.RawPath == "" {
				t.Fatalf("%s%s is not a Function URL request (v2.0): %v", testdata, tc.payload, err)
			}
			got := invoke(t, payload)
			if got.StatusCode != tc.wantStatus || got.Body != tc.wantBody {
				t.Errorf("%s %s = %d %s\nwant %d %s", req.RequestContext.HTTP.Method, req.RawPath, got.StatusCode, got.Body, tc.wantStatus, tc.wantBody)
			}
			for k, v := range tc.wantHeader {
				if got.Headers[k] != v {
					t.Errorf("header %s = %q, want %q (all: %v)", k, got.Headers[k], v, got.Headers)
				}
			}
		})
	}
	if n := kms.Calls("Decrypt") - decrypts; n != 1 {
		t.Errorf("%d KMS Decrypt calls for %d invocations, want 1 (once per cold start)", n, len(testCases)+1)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "api", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
