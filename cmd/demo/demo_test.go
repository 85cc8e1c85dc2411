package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/golden"
	"github.com/acmecheckout/reports/internal/testenv"
)

// elapsedLines matches the summary lines that change from run to run.
var elapsedLines = regexp.MustCompile(`(?m)^  (elapsed|events/s) +\S+$`)

// mustRun runs the demo and returns its stdout with the timing masked.
func mustRun(t *testing.T, args []string, wantCode int) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	d := Demo{Stdout: &stdout, Stderr: &stderr}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := d.Run(ctx, args); code != wantCode {
		t.Fatalf("demo %q exit code %d, want %d; stderr:\n%s", args, code, wantCode, stderr.String())
	}
	if wantCode != exitOK {
		return stderr.String()
	}
	return elapsedLines.ReplaceAllString(stdout.String(), "  $1 (masked)")
}

// TestEmbedded runs the demo as `make demo` does, smaller, against the
// golden output: the same seed prints the same reports.
func TestEmbedded(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		golden string
	}{
		{"exactly-once", []string{"--count", "300", "--merchants", "12", "--top", "4"}, "embedded.txt"},
		{"plain, batches of 7, all rows", []string{"--count", "40", "--invalid", "2", "--merchants", "3", "--batch", "7", "--top", "0", "--idempotency-table", "", "--day", "2011-12-03", "--seed", "9"}, "plain-all-rows.txt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := mustRun(t, tc.args, exitOK)
			golden.Bytes(t, filepath.Join("testdata", tc.golden), []byte(out))
			if again := mustRun(t, tc.args, exitOK); again != out {
				t.Errorf("a second run printed something else:\n%s", again)
			}
		})
	}
}

// TestNoEmbedded points the demo at another DynamoDB through the SDK's
// standard configuration: DynamoDB Local. Every report must add up to the
// valid events; in exactly-once mode, also after running it again on the
// same tables (the same seed gives the same message ids).
func TestNoEmbedded(t *testing.T) {
	testenv.DynamoDBLocal(t)
	tests := []struct {
		name, idempotency, mode string
		runs                    int
	}{
		{"exactly-once", testenv.UniqueName("idempotency"), "exactly-once counting", 2},
		{"plain", "", "plain counting", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--no-embedded", "--table", testenv.UniqueName("purchases"), "--idempotency-table", tc.idempotency, "--count", "120", "--invalid", "3"}
			for run := 1; run <= tc.runs; run++ {
				out := mustRun(t, args, exitOK)
				if !strings.Contains(out, "into DynamoDB (AWS SDK standard configuration), "+tc.mode) {
					t.Errorf("run %d: output does not say where and how it counted:\n%s", run, out)
				}
				for _, r := range []string{"hour-bracket (2024-03-01)", "hour-bracket-method (2024-03-01)", "bracket-method (all time)", "day-merchant (2024-03-01)", "merchant-method (all time)"} {
					if !regexp.MustCompile(regexp.QuoteMeta(r) + `: \d+ datapoints, 120 events`).MatchString(out) {
						t.Errorf("run %d: report %s does not add up to 120 events:\n%s", run, r, out)
					}
				}
				if !strings.Contains(out, "Rejected 3 events") {
					t.Errorf("run %d: invalid events not shown:\n%s", run, out)
				}
			}
		})
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad day", []string{"--day", "yesterday"}, "not a day"},
		{"batch too large", []string{"--batch", "11"}, "--batch must be between 1 and 10"},
		{"no merchants", []string{"--merchants", "0"}, "--merchants must be at least 1"},
		{"negative count", []string{"--count", "-1"}, "must not be negative"},
		{"stray argument", []string{"now"}, "unexpected arguments"},
		{"unknown flag", []string{"--fast"}, "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if stderr := mustRun(t, tc.args, exitUsage); !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.want)
			}
		})
	}
}
