package aggregator_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/purchase"
)

// sqsTestdata is the shared directory of real-shaped SQS payloads.
const sqsTestdata = "../../testdata/sqs"

// mustAWS loads the SDK configuration the standard way, so clients find the
// emulators through AWS_ENDPOINT_URL_* only.
func mustAWS(t testing.TB) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return cfg
}

func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// mustQueue creates an SQS queue and returns its URL.
func mustQueue(t testing.TB, c *awssqs.Client, name string) string {
	t.Helper()
	out, err := c.CreateQueue(context.Background(), &awssqs.CreateQueueInput{QueueName: aws.String(name + "-" + suffix())})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// receiveAll drains the queue at url, with message attributes.
func receiveAll(t testing.TB, c *awssqs.Client, url string) []sqstypes.Message {
	t.Helper()
	var all []sqstypes.Message
	for {
		out, err := c.ReceiveMessage(context.Background(), &awssqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 0,
			MessageAttributeNames: []string{"All"}, VisibilityTimeout: 300,
		})
		if err != nil {
			t.Fatalf("receive from %s: %v", url, err)
		}
		if len(out.Messages) == 0 {
			return all
		}
		all = append(all, out.Messages...)
	}
}

// mustEvent reads testdata/sqs/NAME.
func mustEvent(t testing.TB, name string) events.SQSEvent {
	t.Helper()
	var ev events.SQSEvent
	if err := json.Unmarshal(mustRead(t, filepath.Join(sqsTestdata, name)), &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustGolden unmarshals testdata/sqs/NAME into a value of type T.
func mustGolden[T any](t testing.TB, name string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(mustRead(t, filepath.Join(sqsTestdata, name)), &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// mustMarshal marshals v or fails the test.
func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// truth is what counting the valid bodies of evs once each must give.
func truth(t testing.TB, evs ...events.SQSEvent) []purchase.Total {
	t.Helper()
	c := purchase.Increments{}
	seen := map[string]bool{}
	for _, ev := range evs {
		for _, r := range ev.Records {
			e, err := purchase.Parse([]byte(r.Body))
			if err != nil || seen[r.MessageId] {
				continue
			}
			seen[r.MessageId] = true
			c.Add(e)
		}
	}
	out := []purchase.Total{}
	for dp, n := range c {
		out = append(out, purchase.Total{Datapoint: dp.Key, Events: n})
	}
	slices.SortFunc(out, func(a, b purchase.Total) int { return strings.Compare(a.Datapoint, b.Datapoint) })
	return out
}

// logLines parses JSON log lines.
func logLines(t testing.TB, b []byte) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line is not JSON: %s", l)
		}
		lines = append(lines, m)
	}
	return lines
}

// figures returns the summary figures a log or EMF line carries under the
// given names (Summary's JSON names, or the EMF metric names).
func figures(line map[string]any, names ...string) map[string]float64 {
	out := map[string]float64{}
	for _, n := range names {
		if v, ok := line[n].(float64); ok {
			out[n] = v
		}
	}
	return out
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// summaryFigures are Summary's figures by JSON name, without the duration.
func summaryFigures(s aggregator.Summary) map[string]float64 {
	return map[string]float64{
		"messages": float64(s.Messages), "valid": float64(s.Valid), "invalid": float64(s.Invalid),
		"deadLettered": float64(s.DeadLettered), "counted": float64(s.Counted), "duplicates": float64(s.Duplicates),
		"datapoints": float64(s.Datapoints), "transactions": float64(s.Transactions), "retries": float64(s.Retries),
		"failed": float64(s.Failed),
	}
}
