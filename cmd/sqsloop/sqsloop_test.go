package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/emulator"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/sqs"
	"github.com/acmecheckout/reports/internal/testenv"
)

// mustRun runs sqsloop with args and env and returns stdout.
func mustRun(t *testing.T, env map[string]string, wantCode int, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cli := CLI{Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := cli.Run(ctx, args); code != wantCode {
		t.Fatalf("sqsloop %q exit code %d, want %d; stderr:\n%s", args, code, wantCode, errOut.String())
	}
	return out.String(), errOut.String()
}

func mustDecode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

func queueDepth(t *testing.T, c *awssqs.Client, url string) int {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		t.Fatal(err)
	}
	return mustDecode[int](t, out.Attributes["ApproximateNumberOfMessages"])
}

// TestLoop runs the README's local loop as a person would, exactly once:
// start the emulators (sqsloop up), create the tables and the queues,
// generate a day, publish it, drain it through the aggregator, read the
// reports, stop the emulators (sqsloop down).
func TestLoop(t *testing.T) {
	dir := t.TempDir()
	mustUp(t, dir)
	mustRun(t, nil, exitOK, "tables", "--table", "local-datapoints", "--idempotency-table", "local-idempotency")

	tests := []struct {
		name  string
		dlqOn bool // DLQ_URL set: the aggregator parks invalid events itself
	}{
		{"redrive policy", false},
		{"aggregator dead-letters", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table, idem := "local-datapoints", "local-idempotency"
			if !tc.dlqOn { // fresh tables, the way the stack has them
				table, idem = testenv.UniqueName("datapoints"), testenv.UniqueName("idempotency")
				mustRun(t, map[string]string{"TABLE_NAME": table, "IDEMPOTENCY_TABLE_NAME": idem}, exitOK, "tables")
			}
			ctx := context.Background()
			cfg, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				t.Fatal(err)
			}
			name := testenv.UniqueName("purchases")
			q := map[string]string{}
			if tc.dlqOn { // the README's way: eval "$(sqsloop queues NAME --env)"
				out, _ := mustRun(t, nil, exitOK, "queues", name, "--visibility", "1s", "--max-receive", "2", "--env")
				for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
					k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
					q[map[string]string{"QUEUE_URL": "queueUrl", "DLQ_URL": "dlqUrl"}[k]] = v
				}
			} else {
				out, _ := mustRun(t, nil, exitOK, "queues", name, "--visibility", "1s", "--max-receive", "2")
				q = mustDecode[map[string]string](t, out)
			}
			if q["queueUrl"] == "" || q["dlqUrl"] == "" {
				t.Fatalf("queues printed %v", q)
			}
			env := map[string]string{"QUEUE_URL": q["queueUrl"], "TABLE_NAME": table, "IDEMPOTENCY_TABLE_NAME": idem}
			if tc.dlqOn {
				env["DLQ_URL"] = q["dlqUrl"]
			}

			day, _ := mustRun(t, nil, exitOK, "generate", "--count", "60", "--invalid", "4", "--merchants", "8", "--seed", "5")
			file := filepath.Join(t.TempDir(), "day.jsonl")
			if err := os.WriteFile(file, []byte(day), 0o644); err != nil {
				t.Fatal(err)
			}
			want := purchase.Increments{}
			sc := bufio.NewScanner(strings.NewReader(day))
			for sc.Scan() {
				if e, err := purchase.Parse(sc.Bytes()); err == nil {
					want.Add(e)
				}
			}

			out, _ := mustRun(t, env, exitOK, "publish", file)
			if pub := mustDecode[sqs.PublishResult](t, out); pub.Sent != 64 || pub.Calls != 7 {
				t.Errorf("publish = %+v, want 64 sent in 7 calls", pub)
			}

			out, _ = mustRun(t, env, exitOK, "poll", "--drain", "--wait", "1s")
			st := mustDecode[sqs.PollStats](t, out)
			wantFailed := 8 // each invalid event fails twice, then the redrive policy moves it
			if tc.dlqOn {
				wantFailed = 0
			}
			if st.Deleted+st.Failed != st.Messages || st.Failed != wantFailed || st.Deleted < 60 {
				t.Errorf("poll = %+v, want %d failed deliveries and the 60 valid deleted", st, wantFailed)
			}

			client := awssqs.NewFromConfig(cfg)
			if n := queueDepth(t, client, q["dlqUrl"]); n != 4 {
				t.Errorf("DLQ holds %d messages, want the 4 invalid events", n)
			}
			// Every datapoint exactly once, and each report listed in full
			// through the byListKey index, as cmd/reports lists it.
			store := dynamo.New(dynamodb.NewFromConfig(cfg), table)
			for dp, n := range want {
				got, err := store.Get(ctx, dp.Key)
				if err != nil || got.Events != n {
					t.Errorf("%s = %+v, %v; want %d events", dp.Key, got, err, n)
				}
			}
			listed := map[string]int64{}
			for _, r := range []purchase.Report{purchase.BracketMethod, purchase.MerchantMethod} {
				counts, err := store.List(ctx, r, "")
				if err != nil {
					t.Fatalf("List(%s): %v", r, err)
				}
				for _, c := range counts {
					listed[c.Datapoint] = c.Events
				}
			}
			for dp, n := range want {
				if (dp.Report == purchase.BracketMethod || dp.Report == purchase.MerchantMethod) && listed[dp.Key] != n {
					t.Errorf("List gives %s = %d, want %d", dp.Key, listed[dp.Key], n)
				}
			}
		})
	}
}

// mustUp starts the emulators with sqsloop up on free ports, points the
// SDK's standard configuration at them as the README does, and stops them
// with sqsloop down when the test ends.
func mustUp(t *testing.T, dir string) {
	t.Helper()
	nodeModules, err := emulator.NodeModules(".")
	if err == nil {
		_, err = emulator.DynamoDBLocal(nodeModules, 0)
	}
	if err == nil {
		_, err = emulator.Fauxqs(nodeModules, 0)
	}
	if err != nil {
		testenv.Missing(t, "the emulators", err)
	}
	sqsPort, ddbPort := testenv.FreePort(t), testenv.FreePort(t)
	out, _ := mustRun(t, nil, exitOK, "up", "--dir", dir, "--sqs-port", sqsPort, "--dynamodb-port", ddbPort)
	t.Cleanup(func() {
		var stdout, stderr bytes.Buffer
		cli := CLI{Getenv: func(string) string { return "" }, Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr}
		if code := cli.Run(context.Background(), []string{"down", "--dir", dir}); code != exitOK {
			t.Errorf("sqsloop down: exit code %d\n%s", code, stderr.String())
		}
		for _, r := range mustDecode[[]running](t, out) {
			if isRunning(r) {
				t.Errorf("%s (pid %d) still runs after sqsloop down", r.Name, r.PID)
			}
		}
	})
	if rs := mustDecode[[]running](t, out); len(rs) != 2 || rs[0].PID == 0 || rs[1].PID == 0 {
		t.Fatalf("up printed %s", out)
	}
	testenv.AWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:"+sqsPort)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:"+ddbPort)
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"no command", nil, nil, exitUsage, "usage:"},
		{"unknown command", nil, []string{"push"}, exitUsage, `unknown command "push"`},
		{"publish without queue", nil, []string{"publish", "day.jsonl"}, exitUsage, "no queue"},
		{"publish without file", map[string]string{"QUEUE_URL": "http://q"}, []string{"publish"}, exitUsage, "wants 1 argument"},
		{"publish missing file", map[string]string{"QUEUE_URL": "http://q"}, []string{"publish", "/nonexistent/day.jsonl"}, exitUsage, "no such file"},
		{"poll without table", map[string]string{"QUEUE_URL": "http://q"}, []string{"poll"}, exitUsage, "no table"},
		{"poll batch too large", map[string]string{"QUEUE_URL": "http://q", "TABLE_NAME": "t"}, []string{"poll", "--batch", "11"}, exitUsage, "--batch must be 1 to 10"},
		{"generate bad start", nil, []string{"generate", "--start", "March"}, exitUsage, "not a day"},
		{"queues without name", nil, []string{"queues"}, exitUsage, "wants 1 argument"},
		{"tables without table", nil, []string{"tables"}, exitUsage, "no table"},
		{"down with nothing up", nil, []string{"down", "--dir", "/nonexistent"}, exitOK, "no emulators recorded in /nonexistent"},
		{"up with a stray argument", nil, []string{"up", "now"}, exitUsage, "wants 0 argument(s)"},
		{"help", nil, []string{"help"}, exitOK, "usage:"},
		{"command help", nil, []string{"poll", "-h"}, exitOK, "-drain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr := mustRun(t, tc.env, tc.code, tc.args...)
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.want)
			}
		})
	}
}

func TestGenerateIsSeeded(t *testing.T) {
	a, _ := mustRun(t, nil, exitOK, "generate", "--count", "20", "--seed", "3")
	b, _ := mustRun(t, nil, exitOK, "generate", "--count", "20", "--seed", "3")
	if a != b || strings.Count(a, "\n") != 25 {
		t.Fatalf("generate is not reproducible or has the wrong length:\n%s\n%s", a, b)
	}
}
