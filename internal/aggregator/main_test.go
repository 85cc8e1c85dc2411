package aggregator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/golden"
	"github.com/acmecheckout/reports/internal/lambdatest"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/testenv"
)

// env is a fake environment for Main.Getenv; the AWS settings come from the
// process environment, which testenv sets.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// run runs Main with stdin and returns its exit code, stdout and stderr.
func run(t testing.TB, e env, stdin string, start func(any)) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	m := aggregator.Main{Getenv: e.get, Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr, Start: start}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := m.Run(ctx)
	return code, stdout.String(), stderr.String()
}

func noStart(t testing.TB) func(any) {
	return func(any) { t.Helper(); t.Fatal("Start called outside Lambda") }
}

// lineCounts is what counting every valid line of a JSON-lines input gives.
func lineCounts(t testing.TB, input string) []purchase.Total {
	t.Helper()
	var ev events.SQSEvent
	for i, l := range strings.Split(input, "\n") {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint(i), Body: strings.TrimRight(l, "\r")})
	}
	return truth(t, ev)
}

// TestReplay runs the command on JSON lines and SQS events, twice each, with
// an idempotency table: the second run counts nothing again.
func TestReplay(t *testing.T) {
	testenv.DynamoDBLocal(t)
	ddb := dynamodb.NewFromConfig(mustAWS(t))
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

	testCases := []struct {
		name       string
		stdin      string
		wantCode   int
		want       aggregator.ReplaySummary // figures other than datapoints, transactions, retries, duration
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
			name: "a broken SQS event is read as JSON lines", stdin: `{"Records": [{"messageId": "x"`, wantCode: 1,
			want:       aggregator.ReplaySummary{Input: "jsonl", Summary: aggregator.Summary{Messages: 1, Invalid: 1}},
			wantStderr: "line 1: invalid: not valid JSON\n",
		},
		{
			name: "empty input", stdin: "", wantCode: 0,
			want: aggregator.ReplaySummary{Input: "jsonl"},
		},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			code, stdout, stderr := run(t, e, tc.stdin, noStart(t))
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			var got aggregator.ReplaySummary
			if err := json.Unmarshal([]byte(stdout), &got); err != nil || strings.Count(stdout, "\n") != 1 {
				t.Fatalf("stdout is not one JSON summary line: %q (%v)", stdout, err)
			}
			got.Datapoints, got.Transactions, got.Retries, got.DurationMS = 0, 0, 0, 0
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("summary:\n got %+v\nwant %+v", got, tc.want)
			}
			if stderr != tc.wantStderr {
				t.Errorf("stderr:\n got %q\nwant %q", stderr, tc.wantStderr)
			}
		})
	}

	// Every valid event of every input, once.
	want := purchase.Increments{}
	for _, c := range slices.Concat(lineCounts(t, backfill), lineCounts(t, big.String()), truth(t, mustEvent(t, "valid-batch.json"), mustEvent(t, "mixed-batch.json"))) {
		want[purchase.Datapoint{Key: c.Datapoint}] += c.Events
	}
	var wantList []purchase.Total
	for dp, n := range want {
		wantList = append(wantList, purchase.Total{Datapoint: dp.Key, Events: n})
	}
	slices.SortFunc(wantList, func(a, b purchase.Total) int { return strings.Compare(a.Datapoint, b.Datapoint) })
	golden.JSONEqual(t, "counts", mustMarshal(t, testenv.ScanCounts(t, ddb, table)), mustMarshal(t, wantList))
}

// TestMainLambda: in Lambda, Run hands Start the SQS handler, which emits EMF
// on stdout and logs on stderr.
func TestMainLambda(t *testing.T) {
	testenv.DynamoDBLocal(t)
	ddb := dynamodb.NewFromConfig(mustAWS(t))
	table, _ := testenv.Tables(t, ddb, false)
	e := env{"TABLE_NAME": table, "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "AWS_LAMBDA_FUNCTION_NAME": "aggregator-prod"}

	var stdout, stderr bytes.Buffer
	var resp events.SQSEventResponse
	m := aggregator.Main{Getenv: e.get, Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Start: func(h any) {
		handle, ok := h.(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error))
		if !ok {
			t.Fatalf("Start got a %T, want an SQS handler", h)
		}
		var err error
		if resp, err = handle(context.Background(), mustEvent(t, "mixed-batch.json")); err != nil {
			t.Fatalf("handler: %v", err)
		}
	}}
	if code := m.Run(context.Background()); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	golden.JSONEqual(t, "response", mustMarshal(t, resp), mustRead(t, sqsTestdata+"/mixed-batch.response.json"))
	mustEMF(t, stdout.Bytes(), "aggregator-prod", map[string]float64{"messages": 10, "valid": 4, "invalid": 6, "counted": 4, "failed": 0})
	if !strings.Contains(stderr.String(), `"msg":"batch processed"`) {
		t.Errorf("no summary log on stderr:\n%s", stderr.String())
	}
}

// TestMainConfig: a missing TABLE_NAME is a clear error, reported to the
// Runtime API's init/error in Lambda, before the runtime loop starts.
func TestMainConfig(t *testing.T) {
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
			code, stdout, stderr := run(t, tc.env, "", noStart(t))
			if code == 0 || stdout != "" {
				t.Errorf("exit code %d, stdout %q; want non-zero and nothing", code, stdout)
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
