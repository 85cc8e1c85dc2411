package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	main "github.com/acmecheckout/reports/cmd/aggregator"
	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/golden"
	"github.com/acmecheckout/reports/internal/lambdatest"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/testenv"
)

const sqsTestdata = "../../testdata/sqs"

// env is a fake environment; the AWS settings come from the process
// environment, which testenv sets.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// exitCode is the status main exits with after run returned err.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		return coded.ExitCode()
	}
	return 2
}

// runCommand runs the program with args and stdin and returns its exit code,
// stdout and stderr.
func runCommand(t testing.TB, e env, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := main.Run(ctx, args, main.Env{Getenv: e.get, Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr,
		Start: func(any) { t.Helper(); t.Fatal("Start called outside Lambda") }})
	return exitCode(err), stdout.String(), stderr.String()
}

func mustAWSClient(t testing.TB) *dynamodb.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return dynamodb.NewFromConfig(cfg)
}

func mustEvent(t testing.TB, name string) events.SQSEvent {
	t.Helper()
	var ev events.SQSEvent
	if err := json.Unmarshal(mustRead(t, filepath.Join(sqsTestdata, name)), &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// counts adds up the valid bodies.
func counts(bodies ...string) purchase.Increments {
	c := purchase.Increments{}
	for _, b := range bodies {
		if e, err := purchase.Parse([]byte(b)); err == nil {
			c.Add(e)
		}
	}
	return c
}

func lines(input string) []string { return strings.Split(input, "\n") }

func bodies(evs ...events.SQSEvent) []string {
	var out []string
	for _, ev := range evs {
		for _, r := range ev.Records {
			out = append(out, r.Body)
		}
	}
	return out
}

func asTotals(c purchase.Increments) []purchase.Total {
	out := []purchase.Total{}
	for dp, n := range c {
		out = append(out, purchase.Total{Datapoint: dp.Key, Events: n})
	}
	slices.SortFunc(out, func(a, b purchase.Total) int { return strings.Compare(a.Datapoint, b.Datapoint) })
	return out
}

// TestReplay runs the command on JSON lines and SQS events, twice each, with
// an idempotency table: the second run counts nothing again.
func TestReplay(t *testing.T) {
	testenv.DynamoDBLocal(t)
	ddb := mustAWSClient(t)
	table, idem := testenv.Tables(t, ddb, true)
	e := env{"TABLE_NAME": table, "IDEMPOTENCY_TABLE_NAME": idem}

	backfill := string(mustRead(t, "testdata/backfill.jsonl"))
	sqsEvent := string(mustRead(t, sqsTestdata+"/valid-batch.json"))
	var big strings.Builder
	for i := 0; i < 2500; i++ { // more than one batch
		fmt.Fprintf(&big, `{"date":"2011-11-%02dT%02d:00:00Z","amount":%d,"paymentMethod":"PAY_NOW","merchantId":"0f8fad5b-d9cb-469f-a165-70867728950e"}`+"\n", 1+i%28, i%24, i)
	}
	// Two SQS events back to back, pretty-printed, as a replay of captured events.
	twoEvents := string(mustRead(t, sqsTestdata+"/mixed-batch.json")) + sqsEvent
	file := filepath.Join(t.TempDir(), "backfill.jsonl")
	if err := os.WriteFile(file, []byte(backfill), 0o600); err != nil {
		t.Fatal(err)
	}

	testCases := []struct {
		name       string
		stdin      string
		args       []string
		wantCode   int
		want       aggregator.ReplaySummary // figures other than datapoints, transactions, write units, retries, duration
		wantStderr string
	}{
		{
			name: "JSON lines", stdin: backfill, wantCode: 1,
			want:       aggregator.ReplaySummary{Input: "jsonl", Summary: aggregator.Summary{Messages: 8, Valid: 5, Invalid: 3, Counted: 5}},
			wantStderr: string(mustRead(t, "testdata/backfill.stderr")),
		},
		{
			name: "the same JSON lines again count nothing twice", stdin: backfill, wantCode: 1,
			want:       aggregator.ReplaySummary{Input: "jsonl", Summary: aggregator.Summary{Messages: 8, Valid: 5, Invalid: 3, Duplicates: 5}},
			wantStderr: string(mustRead(t, "testdata/backfill.stderr")),
		},
		{
			name: "the same JSON lines as stdin of another source count again", stdin: backfill, args: []string{"--source", "backfill-2"}, wantCode: 1,
			want:       aggregator.ReplaySummary{Input: "jsonl", Summary: aggregator.Summary{Messages: 8, Valid: 5, Invalid: 3, Counted: 5}},
			wantStderr: string(mustRead(t, "testdata/backfill.stderr")),
		},
		{
			name: "the same JSON lines as a file, twice", args: []string{file, file}, wantCode: 1,
			want:       aggregator.ReplaySummary{Input: "jsonl", Summary: aggregator.Summary{Messages: 16, Valid: 10, Invalid: 6, Counted: 5, Duplicates: 5}},
			wantStderr: strings.Repeat(string(mustRead(t, "testdata/backfill.stderr")), 2),
		},
		{
			name: "an SQS event", stdin: sqsEvent, wantCode: 0,
			want: aggregator.ReplaySummary{Input: "sqs", Summary: aggregator.Summary{Messages: 5, Valid: 5, Counted: 5}},
		},
		{
			name: "the same SQS event again", stdin: sqsEvent, wantCode: 0,
			want: aggregator.ReplaySummary{Input: "sqs", Summary: aggregator.Summary{Messages: 5, Valid: 5, Duplicates: 5}},
		},
		{
			name: "two SQS events", stdin: twoEvents, wantCode: 1,
			want:       aggregator.ReplaySummary{Input: "sqs", Summary: aggregator.Summary{Messages: 15, Valid: 9, Invalid: 6, Counted: 4, Duplicates: 5}},
			wantStderr: string(mustRead(t, "testdata/two-events.stderr")),
		},
		{
			name: "JSON lines in several batches", stdin: big.String(), wantCode: 0,
			want: aggregator.ReplaySummary{Input: "jsonl", Summary: aggregator.Summary{Messages: 2500, Valid: 2500, Counted: 2500}},
		},
		{
			name: "empty input", stdin: "", wantCode: 0,
			want: aggregator.ReplaySummary{Input: "jsonl"},
		},
		{
			name: "a file that does not exist", args: []string{"no-such-file.jsonl"}, wantCode: 2,
			want:       aggregator.ReplaySummary{Input: "jsonl"},
			wantStderr: "open input: open no-such-file.jsonl: no such file or directory\n",
		},
		{
			name: "--source with two files", args: []string{"--source", "x", file, file}, wantCode: 2,
			wantStderr: "--source names one input: give one file, or none for stdin\n",
		},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			code, stdout, stderr := runCommand(t, e, tc.stdin, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			if stderr != tc.wantStderr {
				t.Errorf("stderr:\n got %q\nwant %q", stderr, tc.wantStderr)
			}
			if tc.want.Input == "" {
				return
			}
			var got aggregator.ReplaySummary
			if err := json.Unmarshal([]byte(stdout), &got); err != nil || strings.Count(stdout, "\n") != 1 {
				t.Fatalf("stdout is not one JSON summary line: %q (%v)", stdout, err)
			}
			got.Datapoints, got.Transactions, got.WriteUnits, got.RequestRetries, got.ConflictRetries, got.DurationMS = 0, 0, 0, 0, 0, 0
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("summary:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}

	// Every valid event of every input, once per identity: the backfill
	// three times (stdin, backfill-2, the file), the big input, both SQS events.
	want := counts(slices.Concat(lines(backfill), lines(backfill), lines(backfill), lines(big.String()),
		bodies(mustEvent(t, "valid-batch.json"), mustEvent(t, "mixed-batch.json")))...)
	golden.JSONEqual(t, "counts", mustMarshal(t, testenv.ScanCounts(t, ddb, table)), mustMarshal(t, asTotals(want)))
}

// TestRunLambda: in Lambda, run hands Start the SQS handler, which emits EMF
// on stdout and logs on stderr.
func TestRunLambda(t *testing.T) {
	testenv.DynamoDBLocal(t)
	ddb := mustAWSClient(t)
	table, _ := testenv.Tables(t, ddb, false)
	e := env{"TABLE_NAME": table, "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "AWS_LAMBDA_FUNCTION_NAME": "aggregator-prod"}

	var stdout, stderr bytes.Buffer
	var resp events.SQSEventResponse
	err := main.Run(context.Background(), nil, main.Env{Getenv: e.get, Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Start: func(h any) {
		handle, ok := h.(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error))
		if !ok {
			t.Fatalf("Start got a %T, want an SQS handler", h)
		}
		var err error
		if resp, err = handle(context.Background(), mustEvent(t, "mixed-batch.json")); err != nil {
			t.Fatalf("handler: %v", err)
		}
	}})
	if err != nil {
		t.Fatalf("run: %v; stderr:\n%s", err, stderr.String())
	}
	golden.JSONEqual(t, "response", mustMarshal(t, resp), mustRead(t, sqsTestdata+"/mixed-batch.response.json"))
	var emf map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &emf); err != nil {
		t.Fatalf("stdout is not one EMF line: %s", stdout.String())
	}
	if emf["FunctionName"] != "aggregator-prod" || emf["Counted"] != 4.0 || emf["Invalid"] != 6.0 || emf["WriteUnits"].(float64) <= 0 {
		t.Errorf("EMF line %s", stdout.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"batch processed"`) {
		t.Errorf("no summary log on stderr:\n%s", stderr.String())
	}
}

// TestRunConfig: a missing TABLE_NAME is a clear error, reported to the
// Runtime API's init/error in Lambda, before the runtime loop starts.
func TestRunConfig(t *testing.T) {
	testenv.AWSEnv(t)
	rt := lambdatest.NewServer(t)
	testCases := []struct {
		name string
		env  env
	}{
		{"command", env{}},
		{"Lambda", env{"AWS_LAMBDA_RUNTIME_API": rt.Addr()}},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			code, stdout, stderr := runCommand(t, tc.env, "")
			if code != 2 || stdout != "" {
				t.Errorf("exit code %d, stdout %q; want 2 and nothing", code, stdout)
			}
			if !strings.Contains(stderr, "TABLE_NAME is required") {
				t.Errorf("stderr does not say what is missing:\n%s", stderr)
			}
			if tc.env["AWS_LAMBDA_RUNTIME_API"] == "" {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ie, err := rt.WaitInitError(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ie.Type != "Runtime.ConfigError" || !strings.Contains(ie.Message, "TABLE_NAME is required") {
				t.Errorf("init error %+v", ie)
			}
		})
	}
}
