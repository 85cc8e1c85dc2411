package sqsloop_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/acmecheckout/reports/internal/sqs"
	"github.com/acmecheckout/reports/internal/sqs/sqstest"
	"github.com/acmecheckout/reports/internal/sqsloop"
	"github.com/acmecheckout/reports/internal/testenv"
)

func TestKeyOf(t *testing.T) {
	tests := []struct {
		body, want, wantErr string
	}{
		{body: `{"orderId":"o-1","amount":3}`, want: "o-1"},
		{body: `{"orderId":12345}`, want: "12345"},
		{body: `{"orderId":-1.5e3}`, want: "-1.5e3"},
		{body: `{"orderId":"` + strings.Repeat("k", 128) + `"}`, want: strings.Repeat("k", 128)},
		{body: `{"amount":3}`, wantErr: `no field "orderId"`},
		{body: `{"orderId":true}`, wantErr: "is true, want a string or a number"},
		{body: `{"orderId":null}`, wantErr: "is null, want a string or a number"},
		{body: `{"orderId":{"a":1}}`, wantErr: "want a string or a number"},
		{body: `{"orderId":""}`, wantErr: "empty: want 1 to 128 printable ASCII"},
		{body: `{"orderId":"` + strings.Repeat("k", 129) + `"}`, wantErr: "129 bytes long"},
		{body: `{"orderId":"a\u0001b"}`, wantErr: "want printable ASCII characters only"},
		{body: `{"orderId":"café"}`, wantErr: "want printable ASCII characters only"},
		{body: `not json`, wantErr: "not a JSON object"},
		{body: `["orderId"]`, wantErr: "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.body[:min(len(tc.body), 30)], func(t *testing.T) {
			got, err := sqsloop.KeyOf([]byte(tc.body), "orderId")
			if tc.wantErr != "" {
				if !errors.Is(err, sqsloop.ErrNoKey) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("KeyOf = %q, %v; want ErrNoKey saying %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("KeyOf = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestPublisherKeyField: every message carries its line's key, and an entry
// SQS fails is sent again with the same key, once on the queue.
func TestPublisherKeyField(t *testing.T) {
	sqsURL := testenv.Fauxqs(t)
	direct := sqstest.Client(t)
	url := sqstest.Queue(t, direct, "purchases", nil)
	// Every entry fails on its first try, lines 2 and 13 on their second too.
	sqstest.WithFaults(t, sqsURL, func(id string, seen int) bool {
		return seen == 1 || seen == 2 && (id == "line-2" || id == "line-13")
	})
	var lines []string
	want := map[string]string{} // key -> body
	for i, line := range purchaseLines(14) {
		key := fmt.Sprintf(`"order-%d"`, i)
		if i%2 == 1 {
			key = fmt.Sprint(9000 + i) // a number field
		}
		body := strings.Replace(line, `{`, `{"orderId":`+key+`,`, 1)
		lines = append(lines, body)
		want[strings.Trim(key, `"`)] = body
	}
	p := sqsloop.NewPublisher(sqstest.Client(t), url, sqsloop.WithKeyField("orderId"), sqsloop.WithPublishBackoff(time.Millisecond))
	res, err := p.PublishLines(context.Background(), strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 14 || res.Resent != 16 || len(res.Failed) != 0 {
		t.Errorf("result = %+v, want 14 sent, 16 resent (14 + lines 2 and 13 again)", res)
	}
	got := map[string]string{}
	for _, m := range sqstest.ReceiveAllMessages(t, direct, url) {
		a, ok := m.MessageAttributes[sqs.AttrIdempotencyKey]
		if !ok || aws.ToString(a.DataType) != "String" {
			t.Fatalf("message %s lacks a String attribute %s: %+v", aws.ToString(m.MessageId), sqs.AttrIdempotencyKey, m.MessageAttributes)
		}
		key := aws.ToString(a.StringValue)
		if _, dup := got[key]; dup {
			t.Errorf("key %s on the queue twice", key)
		}
		got[key] = aws.ToString(m.Body)
	}
	if len(got) != len(want) {
		t.Errorf("%d keys on the queue, want %d", len(got), len(want))
	}
	for k, body := range want {
		if got[k] != body {
			t.Errorf("key %s carries %q, want %q", k, got[k], body)
		}
	}
}

// TestPublisherKeyFieldMissing: a line without the key stops the publishing
// with an error naming the line; the lines before it were sent.
func TestPublisherKeyFieldMissing(t *testing.T) {
	testenv.Fauxqs(t)
	c := sqstest.Client(t)
	url := sqstest.Queue(t, c, "purchases", nil)
	input := `{"orderId":"a"}` + "\n\n" + `{"orderId":"b"}` + "\n" + `{"other":"c"}` + "\n" + `{"orderId":"d"}` + "\n"
	res, err := sqsloop.NewPublisher(c, url, sqsloop.WithKeyField("orderId")).PublishLines(context.Background(), strings.NewReader(input))
	if !errors.Is(err, sqsloop.ErrNoKey) || !strings.Contains(err.Error(), `line 4: no idempotency key: no field "orderId"`) {
		t.Fatalf("err = %v, want ErrNoKey naming line 4", err)
	}
	if res.Sent != 2 {
		t.Errorf("sent %d, want the 2 lines before line 4", res.Sent)
	}
	if got := sqstest.ReceiveAll(t, c, url); len(got) != 2 {
		t.Errorf("queue holds %q, want lines 1 and 3", got)
	}
}
