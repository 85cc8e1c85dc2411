package main_test

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/golden"
	"github.com/acmecheckout/reports/internal/lambdatest"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/testenv"
)

// mustBootstrap builds the aggregator's bootstrap binary as the Makefile
// does, for this machine.
func mustBootstrap(t testing.TB) string {
	t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return lambdatest.Build(t, root, "./cmd/aggregator", runtime.GOOS, runtime.GOARCH)
}

// functionEnv is the environment Lambda would give the function, with the
// SDK pointed at the emulators this test process started.
func functionEnv(t testing.TB, extra ...string) []string {
	t.Helper()
	dir := t.TempDir()
	env := []string{
		"AWS_LAMBDA_FUNCTION_NAME=aggregator",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_REGION=" + testenv.Region,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"TZ=UTC",
	}
	for _, k := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"} {
		if v := os.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return append(env, extra...)
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBootstrap runs the bootstrap binary under the Lambda Runtime Interface
// Emulator, with DynamoDB on DynamoDB Local and the dead-letter queue on
// fauxqs: valid, mixed and redelivered batches (testdata/sqs, real SQS event
// shapes), then the final counts.
func TestBootstrap(t *testing.T) {
	bin := mustBootstrap(t)
	db := testenv.DynamoDBLocal(t)
	testenv.Fauxqs(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	table, idem := testenv.Tables(t, db.Client, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sqsClient := awssqs.NewFromConfig(cfg)
	q, err := sqsClient.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("purchase-dlq")})
	if err != nil {
		t.Fatal(err)
	}

	fn := lambdatest.Emulate(t, bin, functionEnv(t, "AWS_LAMBDA_FUNCTION_TIMEOUT=10",
		"TABLE_NAME="+table, "IDEMPOTENCY_TABLE_NAME="+idem, "DLQ_URL="+aws.ToString(q.QueueUrl)))

	const testdata = "../../testdata/sqs/"
	testCases := []struct {
		name, event, wantResponse string
		wantErrorType             string
	}{
		{name: "valid batch", event: "valid-batch.json", wantResponse: "valid-batch.response.json"},
		{name: "mixed batch: invalid events dead-lettered", event: "mixed-batch.json", wantResponse: "mixed-batch.response-dlq.json"},
		{name: "valid batch redelivered: duplicates acknowledged", event: "valid-batch.json", wantResponse: "valid-batch.response.json"},
		{name: "not an SQS event: invocation error", event: "", wantErrorType: "UnmarshalTypeError"},
	}
	for i, tc := range testCases {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			payload := []byte(`{"Records": "not a list"}`)
			if tc.event != "" {
				payload = mustRead(t, testdata+tc.event)
			}
			resp, err := fn.Invoke(ctx, payload)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantErrorType != "" {
				if resp.Err == nil || resp.Err.Type != tc.wantErrorType {
					t.Fatalf("got %+v, want error %s", resp, tc.wantErrorType)
				}
				return
			}
			if resp.Err != nil {
				t.Fatalf("function error: %v", resp.Err)
			}
			golden.JSONEqual(t, "response", resp.Payload, mustRead(t, testdata+tc.wantResponse))
		})
	}

	// Final counts: each valid event once, however often delivered.
	golden.JSONEqual(t, "counts", mustMarshal(t, testenv.ScanCounts(t, db.Client, table)), mustMarshal(t, merged(t,
		testdata+"valid-batch.counts.json", testdata+"mixed-batch.counts.json")))
	dlq, err := sqsClient.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
		QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := dlq.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)]; n != "6" {
		t.Errorf("%s messages on the DLQ, want 6", n)
	}

	// One EMF line (stdout) and one summary (stderr) per handled batch, in
	// the function's output as CloudWatch Logs gets it.
	ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if n := fn.WaitOutput(ctx, `"CloudWatchMetrics"`, 3); n != 3 {
		t.Errorf("%d EMF lines, want 3:\n%s", n, fn.Output())
	}
	if n := fn.WaitOutput(ctx, `"msg":"batch processed"`, 3); n != 3 {
		t.Errorf("%d summary lines, want 3:\n%s", n, fn.Output())
	}
}

// TestBootstrapMissingTable: without TABLE_NAME the function reports a clear
// init error (posted to /runtime/init/error: the emulator answers it, not
// Runtime.ExitError) and exits non-zero before polling for invocations.
func TestBootstrapMissingTable(t *testing.T) {
	bin := mustBootstrap(t)
	testenv.AWSEnv(t)
	fn := lambdatest.Emulate(t, bin, functionEnv(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := fn.Invoke(ctx, mustRead(t, "../../testdata/sqs/valid-batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Err == nil || resp.Err.Type != "Runtime.ConfigError" || !strings.Contains(resp.Err.Message, "TABLE_NAME is required") {
		t.Fatalf("response %s, error %+v; want the init error Runtime.ConfigError", resp.Payload, resp.Err)
	}
	if fn.WaitOutput(ctx, "TABLE_NAME is required", 1) == 0 {
		t.Errorf("the function's output does not say what is missing:\n%s", fn.Output())
	}
	if !fn.WaitLog(ctx, "exited with error: exit status") {
		t.Errorf("the emulator does not report a non-zero exit:\n%s", fn.Log())
	}
}

// TestBootstrapArm64 cross-builds the bootstrap for Lambda's arm64 as SAM does.
func TestBootstrapArm64(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := lambdatest.Build(t, root, "./cmd/aggregator", "linux", "arm64")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("machine %v, want EM_AARCH64", f.Machine)
	}
	if f.Section(".interp") != nil {
		t.Error("binary is dynamically linked; want static (CGO_ENABLED=0)")
	}
	st, _ := os.Stat(bin)
	t.Logf("arm64 bootstrap: %.1f MiB", float64(st.Size())/(1<<20))
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// merged adds up golden count files.
func merged(t testing.TB, files ...string) []purchase.Total {
	t.Helper()
	sum := map[string]int64{}
	for _, f := range files {
		var cs []purchase.Total
		if err := json.Unmarshal(mustRead(t, f), &cs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range cs {
			sum[c.Datapoint] += c.Events
		}
	}
	var out []purchase.Total
	for dp, n := range sum {
		out = append(out, purchase.Total{Datapoint: dp, Events: n})
	}
	slices.SortFunc(out, func(a, b purchase.Total) int { return strings.Compare(a.Datapoint, b.Datapoint) })
	return out
}
