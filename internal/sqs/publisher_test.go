package sqs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/sqs"
	"github.com/acmecheckout/reports/internal/testenv"
)

// loopClient returns an SQS client built from the SDK's standard
// configuration, which testenv pointed at an emulator.
func loopClient(t *testing.T) *awssqs.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("load aws config: %v", err)
	}
	return awssqs.NewFromConfig(cfg)
}

// loopQueue creates a queue with the given attributes and returns its URL.
func loopQueue(t *testing.T, c *awssqs.Client, name string, attrs map[string]string) string {
	t.Helper()
	out, err := c.CreateQueue(context.Background(), &awssqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// loopReceiveAll receives and deletes every visible message of a queue and
// returns their bodies, sorted.
func loopReceiveAll(t *testing.T, c *awssqs.Client, url string) []string {
	t.Helper()
	ctx := context.Background()
	var bodies []string
	for {
		out, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 60})
		if err != nil {
			t.Fatalf("receive from %s: %v", url, err)
		}
		if len(out.Messages) == 0 {
			slices.Sort(bodies)
			return bodies
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if _, err := c.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
	}
}

// faultProxy stands in front of fauxqs and fails chosen SendMessageBatch
// entries the way SQS does (a Failed entry with SenderFault false): the entry
// is taken out of the request before it reaches fauxqs, so a failed entry is
// really not sent.
type faultProxy struct {
	target string
	// fail decides, for an entry id and how often it was seen, whether to fail it.
	fail func(id string, seen int) bool

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

// withFaults puts a faultProxy in front of the SQS emulator.
func withFaults(t *testing.T, sqsURL string, fail func(id string, seen int) bool) {
	t.Helper()
	srv := httptest.NewServer(&faultProxy{target: sqsURL, fail: fail, seen: map[string]int{}})
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_SQS", srv.URL)
}

func purchaseLines(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"date":"2024-03-01T10:%02d:00Z","amount":%d,"paymentMethod":"PAY_NOW","merchantId":"1bb53ed1-787b-4543-9def-ea18eef7902e"}`, i%60, 100*i)
	}
	return lines
}

func TestPublisher(t *testing.T) {
	valid := purchaseLines(25)
	tests := []struct {
		name       string
		input      string
		fail       func(id string, seen int) bool
		attempts   int
		want       []string // bodies on the queue
		wantCalls  int
		wantResent int
		wantFailed []sqs.PublishFailure
	}{
		{
			name:      "25 lines in three calls, blank lines skipped",
			input:     strings.Join(valid[:10], "\n") + "\n\n  \n" + strings.Join(valid[10:], "\r\n") + "\n",
			want:      valid,
			wantCalls: 3,
		},
		{
			name:      "no trailing newline, invalid events sent as they are",
			input:     "not json\n" + valid[0],
			want:      []string{"not json", valid[0]},
			wantCalls: 1,
		},
		{
			name:       "body refused as the sender's fault is not resent",
			input:      valid[0] + "\n" + "bad \x01 control\n" + valid[1] + "\n",
			want:       valid[:2],
			wantCalls:  1,
			wantFailed: []sqs.PublishFailure{{Line: 2, Code: "InvalidMessageContents", SenderFault: true}},
		},
		{
			name:       "entries failed by SQS are resent once each",
			input:      strings.Join(valid, "\n"),
			fail:       func(_ string, seen int) bool { return seen == 1 },
			want:       valid,
			wantCalls:  6, // each batch of 10, 10, 5 fails whole, then succeeds
			wantResent: 25,
		},
		{
			name:       "an entry failing every attempt is reported",
			input:      strings.Join(valid[:12], "\n"),
			fail:       func(id string, _ int) bool { return id == "line-3" },
			attempts:   3,
			want:       slices.Delete(slices.Clone(valid[:12]), 2, 3),
			wantCalls:  4, // 10 + 2 resends of line 3 + 2
			wantResent: 2,
			wantFailed: []sqs.PublishFailure{{Line: 3, Code: "InternalError"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sqsURL := testenv.Fauxqs(t)
			if tc.fail != nil {
				withFaults(t, sqsURL, tc.fail)
			}
			c := loopClient(t)
			url := loopQueue(t, c, "purchases", nil)
			opts := []sqs.PublisherOption{sqs.WithPublishBackoff(time.Millisecond)}
			if tc.attempts > 0 {
				opts = append(opts, sqs.WithPublishAttempts(tc.attempts))
			}
			res, err := sqs.NewPublisher(c, url, opts...).PublishLines(context.Background(), strings.NewReader(tc.input))
			if len(tc.wantFailed) > 0 {
				if !errors.Is(err, sqs.ErrNotAllSent) {
					t.Fatalf("err = %v, want ErrNotAllSent", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if res.Sent != len(tc.want) || res.Calls != tc.wantCalls || res.Resent != tc.wantResent {
				t.Errorf("result = %+v, want sent %d, calls %d, resent %d", res, len(tc.want), tc.wantCalls, tc.wantResent)
			}
			if len(res.Failed) != len(tc.wantFailed) {
				t.Fatalf("failed = %+v, want %+v", res.Failed, tc.wantFailed)
			}
			for i, f := range res.Failed {
				w := tc.wantFailed[i]
				if f.Line != w.Line || f.Code != w.Code || f.SenderFault != w.SenderFault || f.Message == "" {
					t.Errorf("failed[%d] = %+v, want %+v with a message", i, f, w)
				}
			}
			want := slices.Sorted(slices.Values(tc.want))
			if got := loopReceiveAll(t, c, url); !slices.Equal(got, want) {
				t.Errorf("queue holds %d bodies %q, want %d %q", len(got), got, len(want), want)
			}
		})
	}
}

func TestPublisherQueueMissing(t *testing.T) {
	testenv.Fauxqs(t)
	c := loopClient(t)
	url := loopQueue(t, c, "purchases", nil)
	if _, err := c.DeleteQueue(context.Background(), &awssqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	res, err := sqs.NewPublisher(c, url).Publish(context.Background(), purchaseLines(3))
	var notFound *types.QueueDoesNotExist
	if !errors.As(err, &notFound) || !strings.Contains(err.Error(), "lines 1-3") {
		t.Fatalf("err = %v, want QueueDoesNotExist naming lines 1-3", err)
	}
	if res.Sent != 0 {
		t.Fatalf("sent %d to a missing queue", res.Sent)
	}
}
