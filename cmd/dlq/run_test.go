package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acmecheckout/reports/internal/dlq"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/sqs"
	"github.com/acmecheckout/reports/internal/sqs/sqstest"
	"github.com/acmecheckout/reports/internal/testenv"
)

// mustRun runs dlq with args and env and returns its error and output.
func mustRun(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = dispatch(ctx, args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// queues starts fauxqs and returns a DLQ holding n dead-lettered events and
// an empty queue.
func queues(t *testing.T, n int) (c *awssqs.Client, dlqURL, queueURL string) {
	t.Helper()
	testenv.Fauxqs(t)
	c = sqstest.Client(t)
	dlqURL, queueURL = sqstest.Queue(t, c, "purchases-dlq", nil), sqstest.Queue(t, c, "purchases", nil)
	var rs []purchase.Rejection
	for i := range n {
		reason := "amount: not a number"
		if i%2 == 1 {
			reason = "date: missing"
		}
		rs = append(rs, purchase.Rejection{MessageID: "m-" + string(rune('a'+i)), Identity: "order-" + string(rune('a'+i)), Body: `{"n":1}`, Reason: reason})
	}
	if failed := sqs.NewDeadLetter(c, dlqURL).Send(context.Background(), rs); failed != nil {
		t.Fatal(failed)
	}
	return c, dlqURL, queueURL
}

func TestCommands(t *testing.T) {
	c, dlqURL, queueURL := queues(t, 4)
	env := map[string]string{"DLQ_URL": dlqURL}

	out, _, err := mustRun(t, env, "list")
	if err != nil || !strings.Contains(out, "IDENTITY") || strings.Count(out, "order-") != 4 {
		t.Errorf("list = %v\n%s", err, out)
	}
	out, _, err = mustRun(t, nil, "list", "--dlq", dlqURL, "--format", "json", "--reason", "^date")
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"reason":"date: missing"`) {
		t.Errorf("list --format json --reason ^date = %v\n%s", err, out)
	}
	out, _, err = mustRun(t, env, "list", "--format", "csv")
	if err != nil || strings.Count(out, "\n") != 5 {
		t.Errorf("list --format csv = %v\n%s", err, out)
	}
	out, _, err = mustRun(t, env, "export")
	if err != nil || strings.Count(out, "\n") != 4 || !strings.Contains(out, `"identity":"order-a"`) || !strings.Contains(out, `"body":"{\"n\":1}"`) {
		t.Errorf("export = %v\n%s", err, out)
	}

	out, stderr, err := mustRun(t, env, "redrive", "--queue", queueURL, "--reason", "^amount", "--limit", "1")
	if err != nil {
		t.Fatalf("redrive: %v\n%s", err, stderr)
	}
	var sum dlq.RedriveSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Matched != 1 || sum.Sent != 1 || sum.Deleted != 1 {
		t.Errorf("redrive summary = %+v, %v\n%s", sum, err, out)
	}
	if !strings.Contains(stderr, "dlq redrive: read") {
		t.Errorf("no progress on stderr: %q", stderr)
	}
	// SQS does not promise an order: either message whose reason starts
	// with "amount" may be the one redriven.
	got := sqstest.ReceiveAllMessages(t, c, queueURL)
	if len(got) != 1 {
		t.Fatalf("queue holds %d messages, want 1", len(got))
	}
	if key := aws.ToString(got[0].MessageAttributes[sqs.AttrIdempotencyKey].StringValue); key != "order-a" && key != "order-c" {
		t.Errorf("queue holds identity %q, want order-a or order-c (reason ^amount)", key)
	}
	out, _, err = mustRun(t, map[string]string{"DLQ_URL": dlqURL, "QUEUE_URL": queueURL}, "redrive", "--dry-run")
	if err != nil || !strings.Contains(out, `"skipped": 3`) || !strings.Contains(out, `"dryRun": true`) {
		t.Errorf("redrive --dry-run = %v\n%s", err, out)
	}

	out, _, err = mustRun(t, env, "purge", "--older-than", "1h", "--yes")
	if err != nil || !strings.Contains(out, `"read": 3`) || !strings.Contains(out, `"deleted": 0`) {
		t.Errorf("purge --older-than 1h = %v\n%s", err, out)
	}
	time.Sleep(1100 * time.Millisecond)
	out, _, err = mustRun(t, env, "purge", "--older-than", "1s", "--yes")
	if err != nil || !strings.Contains(out, `"deleted": 3`) {
		t.Errorf("purge --older-than 1s = %v\n%s", err, out)
	}

	// An empty DLQ now.
	out, _, err = mustRun(t, env, "list")
	if err != nil || strings.TrimSpace(out) != "AGE  RECEIVES  IDENTITY  REASON  BODY" {
		t.Errorf("list of an empty DLQ = %v\n%q", err, out)
	}
	out, _, err = mustRun(t, env, "redrive", "--queue", queueURL)
	if err != nil || !strings.Contains(out, `"read": 0`) {
		t.Errorf("redrive of an empty DLQ = %v\n%s", err, out)
	}
}

func TestBadInput(t *testing.T) {
	_, dlqURL, queueURL := queues(t, 1)
	missing := strings.Replace(dlqURL, "purchases-dlq", "nope", 1)
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		usage bool // a usage error, else a failure
		want  string
	}{
		{"no command", nil, nil, true, "no command"},
		{"unknown command", nil, []string{"show"}, true, `unknown command "show"`},
		{"list without dlq", nil, []string{"list"}, true, "no dead-letter queue: set --dlq or DLQ_URL"},
		{"export without dlq", nil, []string{"export"}, true, "no dead-letter queue"},
		{"purge without dlq", nil, []string{"purge", "--older-than", "1h", "--yes"}, true, "no dead-letter queue"},
		{"redrive without queue", nil, []string{"redrive", "--dlq", dlqURL}, true, "no queue to send back to: set --queue or QUEUE_URL"},
		{"wrong dlq url", nil, []string{"list", "--dlq", "purchases-dlq"}, true, `--dlq "purchases-dlq": not an SQS queue URL`},
		{"wrong queue url", nil, []string{"redrive", "--dlq", dlqURL, "--queue", "https://example.com/purchases"}, true, "--queue \"https://example.com/purchases\": not an SQS queue URL"},
		{"same queue", nil, []string{"redrive", "--dlq", dlqURL, "--queue", dlqURL}, true, "same queue"},
		{"bad regex", nil, []string{"list", "--dlq", dlqURL, "--reason", "(amount"}, true, "--reason: error parsing regexp"},
		{"bad format", nil, []string{"list", "--dlq", dlqURL, "--format", "xml"}, true, `--format "xml"`},
		{"negative limit", nil, []string{"redrive", "--dlq", dlqURL, "--queue", queueURL, "--limit", "-1"}, true, "--limit"},
		{"purge without yes", nil, []string{"purge", "--dlq", dlqURL, "--older-than", "1h"}, true, "add --yes"},
		{"purge without age", nil, []string{"purge", "--dlq", dlqURL, "--yes"}, true, "--older-than must be a positive duration"},
		{"stray argument", nil, []string{"list", "--dlq", dlqURL, "now"}, true, "takes no arguments"},
		{"missing dlq", nil, []string{"list", "--dlq", missing}, false, "does not exist"},
		{"missing queue", nil, []string{"redrive", "--dlq", dlqURL, "--queue", missing}, false, "does not exist"},
		{"missing dlq on purge", nil, []string{"purge", "--dlq", missing, "--older-than", "1h", "--yes"}, false, "does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := mustRun(t, tc.env, tc.args...)
			if err == nil || errors.Is(err, errUsage) != tc.usage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a usage error %t saying %q", err, tc.usage, tc.want)
			}
			var stderr bytes.Buffer
			wantCode := map[bool]int{true: exitUsage, false: exitFailed}[tc.usage]
			if code := exitCode(err, &stderr); code != wantCode || !strings.HasPrefix(stderr.String(), "dlq: ") {
				t.Errorf("exit code %d, stderr %q; want %d and the error", code, stderr.String(), wantCode)
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		t.Setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:1")
		t.Setenv("AWS_MAX_ATTEMPTS", "1")
		_, _, err := mustRun(t, nil, "list", "--dlq", dlqURL)
		if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "reach queue") || !strings.Contains(err.Error(), "AWS_ENDPOINT_URL_SQS") {
			t.Errorf("err = %v, want one saying SQS cannot be reached", err)
		}
	})
}

func TestRun(t *testing.T) {
	var stdout, stderr bytes.Buffer
	noEnv := func(string) string { return "" }
	if code := run(context.Background(), []string{"help"}, noEnv, &stdout, &stderr); code != exitOK || !strings.Contains(stderr.String(), "usage:") {
		t.Errorf("dlq help: exit %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"list"}, noEnv, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "dlq: usage: no dead-letter queue") {
		t.Errorf("dlq list without a queue: exit %d, stderr %q", code, stderr.String())
	}
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"dlq list", "dlq redrive", "dlq export", "dlq purge"}},
		{[]string{"list", "--help"}, []string{"-dlq", "-reason", "-format", "-max"}},
		{[]string{"redrive", "--help"}, []string{"-dlq", "-queue", "-reason", "-limit", "-dry-run"}},
		{[]string{"export", "-h"}, []string{"-dlq", "-reason", "JSON lines"}},
		{[]string{"purge", "--help"}, []string{"-older-than", "-yes"}},
	} {
		_, stderr, err := mustRun(t, nil, tc.args...)
		if !errors.Is(err, flag.ErrHelp) || exitCode(err, &bytes.Buffer{}) != exitOK {
			t.Errorf("%q: err = %v, want flag.ErrHelp (exit 0)", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%q: help lacks %q:\n%s", tc.args, w, stderr)
			}
		}
	}
}
