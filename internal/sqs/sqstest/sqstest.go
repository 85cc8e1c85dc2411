// Package sqstest helps tests that talk to an SQS emulator (fauxqs, started by
// internal/testenv): a client from the SDK's standard configuration, queues,
// reading a queue back, and a proxy that fails chosen SendMessageBatch
// entries the way SQS does.
package sqstest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Client returns an SQS client built from the SDK's standard configuration,
// which testenv pointed at an emulator.
func Client(t testing.TB) *awssqs.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("load aws config: %v", err)
	}
	return awssqs.NewFromConfig(cfg)
}

// Queue creates a queue with the given attributes and returns its URL.
func Queue(t testing.TB, c *awssqs.Client, name string, attrs map[string]string) string {
	t.Helper()
	out, err := c.CreateQueue(context.Background(), &awssqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// QueueARN returns the ARN of the queue at url.
func QueueARN(t testing.TB, c *awssqs.Client, url string) string {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("queue arn: %v", err)
	}
	return out.Attributes[string(types.QueueAttributeNameQueueArn)]
}

// ReceiveAllMessages receives and deletes every visible message of a queue,
// with all their attributes, and returns them in the order received.
func ReceiveAllMessages(t testing.TB, c *awssqs.Client, url string) []types.Message {
	t.Helper()
	ctx := context.Background()
	var all []types.Message
	for {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 60,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatalf("receive from %s: %v", url, err)
		}
		if len(out.Messages) == 0 {
			return all
		}
		all = append(all, out.Messages...)
		for _, m := range out.Messages {
			if _, err := c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
	}
}

// ReceiveAll receives and deletes every visible message of a queue and
// returns their bodies, sorted.
func ReceiveAll(t testing.TB, c *awssqs.Client, url string) []string {
	t.Helper()
	var bodies []string
	for _, m := range ReceiveAllMessages(t, c, url) {
		bodies = append(bodies, aws.ToString(m.Body))
	}
	slices.Sort(bodies)
	return bodies
}

// WithFaults puts a proxy in front of the SQS emulator at sqsURL and points
// AWS_ENDPOINT_URL_SQS at it for the rest of t. The proxy fails the
// SendMessageBatch entries fail chooses, given the entry's Id and how often
// an entry with that Id was seen, the way SQS does (a Failed entry with
// SenderFault false): the entry is taken out of the request before it reaches
// the emulator, so a failed entry is really not sent.
func WithFaults(t testing.TB, sqsURL string, fail func(id string, seen int) bool) {
	t.Helper()
	srv := httptest.NewServer(&faultProxy{target: sqsURL, fail: fail, seen: map[string]int{}})
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_SQS", srv.URL)
}

type faultProxy struct {
	target string
	fail   func(id string, seen int) bool

	mu   sync.Mutex
	seen map[string]int
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var failed []map[string]any
	allFailed := false
	if r.Header.Get("X-Amz-Target") == "AmazonSQS.SendMessageBatch" {
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var kept []any
		p.mu.Lock()
		for _, e := range in["Entries"].([]any) {
			id := e.(map[string]any)["Id"].(string)
			p.seen[id]++
			if p.fail(id, p.seen[id]) {
				failed = append(failed, map[string]any{"Id": id, "Code": "InternalError", "Message": "injected", "SenderFault": false})
				continue
			}
			kept = append(kept, e)
		}
		p.mu.Unlock()
		allFailed = len(kept) == 0
		in["Entries"] = kept
		body, _ = json.Marshal(in)
	}
	var respBody []byte
	status := http.StatusOK
	header := http.Header{"Content-Type": {"application/x-amz-json-1.0"}}
	if allFailed {
		respBody, _ = json.Marshal(map[string]any{"Successful": []any{}, "Failed": failed})
	} else {
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.Path, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		req.Header.Del("Content-Length")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		respBody, _ = io.ReadAll(resp.Body)
		status, header = resp.StatusCode, resp.Header
		if len(failed) > 0 && status == http.StatusOK {
			var out map[string]any
			_ = json.Unmarshal(respBody, &out)
			prev, _ := out["Failed"].([]any)
			for _, f := range failed {
				prev = append(prev, f)
			}
			out["Failed"] = prev
			respBody, _ = json.Marshal(out)
		}
	}
	for k, v := range header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(respBody)
}
