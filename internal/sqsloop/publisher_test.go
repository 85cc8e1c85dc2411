package sqsloop_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/sqs/sqstest"
	"github.com/acmecheckout/reports/internal/sqsloop"
	"github.com/acmecheckout/reports/internal/testenv"
)

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
		wantFailed []sqsloop.PublishFailure
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
			wantFailed: []sqsloop.PublishFailure{{Line: 2, Code: "InvalidMessageContents", SenderFault: true}},
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
			wantFailed: []sqsloop.PublishFailure{{Line: 3, Code: "InternalError"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sqsURL := testenv.Fauxqs(t)
			if tc.fail != nil {
				sqstest.WithFaults(t, sqsURL, tc.fail)
			}
			c := sqstest.Client(t)
			url := sqstest.Queue(t, c, "purchases", nil)
			opts := []sqsloop.PublisherOption{sqsloop.WithPublishBackoff(time.Millisecond)}
			if tc.attempts > 0 {
				opts = append(opts, sqsloop.WithPublishAttempts(tc.attempts))
			}
			res, err := sqsloop.NewPublisher(c, url, opts...).PublishLines(context.Background(), strings.NewReader(tc.input))
			if len(tc.wantFailed) > 0 {
				if !errors.Is(err, sqsloop.ErrNotAllSent) {
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
			if got := sqstest.ReceiveAll(t, c, url); !slices.Equal(got, want) {
				t.Errorf("queue holds %d bodies %q, want %d %q", len(got), got, len(want), want)
			}
		})
	}
}

func TestPublisherQueueMissing(t *testing.T) {
	testenv.Fauxqs(t)
	c := sqstest.Client(t)
	url := sqstest.Queue(t, c, "purchases", nil)
	if _, err := c.DeleteQueue(context.Background(), &awssqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	res, err := sqsloop.NewPublisher(c, url).Publish(context.Background(), purchaseLines(3))
	var notFound *types.QueueDoesNotExist
	if !errors.As(err, &notFound) || !strings.Contains(err.Error(), "lines 1-3") {
		t.Fatalf("err = %v, want QueueDoesNotExist naming lines 1-3", err)
	}
	if res.Sent != 0 {
		t.Fatalf("sent %d to a missing queue", res.Sent)
	}
}
