package faultproxy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/faultproxy"
)

// upstream is a stand-in DynamoDB that answers {} and counts what reached it.
type upstream struct{ calls atomic.Int64 }

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_, _ = io.WriteString(w, "{}")
}

// mustProxy starts an upstream and a proxy before it.
func mustProxy(t *testing.T, cfg faultproxy.Config) (*faultproxy.Proxy, *upstream, string) {
	t.Helper()
	up := &upstream{}
	us := httptest.NewServer(up)
	t.Cleanup(us.Close)
	p, err := faultproxy.New(us.URL, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(p)
	t.Cleanup(ps.Close)
	return p, up, ps.URL
}

// post sends one DynamoDB JSON request and returns the status and error
// type, or the transport error.
func post(url, op, body string) (status int, typ string, err error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var e struct {
		Type                string `json:"__type"`
		CancellationReasons []struct{ Code string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if len(e.CancellationReasons) > 0 {
		typ = fmt.Sprintf("%s%v", e.Type, e.CancellationReasons)
	} else {
		typ = e.Type
	}
	return resp.StatusCode, typ, nil
}

const transact = `{"TransactItems":[{"Put":{}},{"Update":{}},{"Update":{}}]}`

func TestFaults(t *testing.T) {
	const prefix = "com.amazonaws.dynamodb.v20120810#"
	for i, tc := range []struct {
		fault     faultproxy.Fault
		op        string
		status    int
		typ       string
		forwarded bool
		units     int64
	}{
		{faultproxy.None, "UpdateItem", 200, "", true, 1},
		{faultproxy.Throttle, "UpdateItem", 400, prefix + "ThrottlingException", false, 0},
		{faultproxy.ProvisionedThroughput, "UpdateItem", 400, prefix + "ProvisionedThroughputExceededException", false, 0},
		{faultproxy.InternalError, "GetItem", 500, prefix + "InternalServerError", false, 0},
		{faultproxy.Unavailable, "GetItem", 503, prefix + "ServiceUnavailable", false, 0},
		{faultproxy.Conflict, "TransactWriteItems", 400, prefix + "TransactionCanceledException[{TransactionConflict} {None} {None}]", false, 0},
		{faultproxy.Conflict, "UpdateItem", 400, prefix + "ThrottlingException", false, 0},
		{faultproxy.LostResponse, "TransactWriteItems", 500, prefix + "InternalServerError", true, 6},
		{faultproxy.ClosedConnection, "PutItem", 0, "", true, 1},
	} {
		t.Run(fmt.Sprintf("%d %s %s", i, tc.fault, tc.op), func(t *testing.T) {
			p, up, url := mustProxy(t, faultproxy.Config{Decide: func(string, []byte) faultproxy.Fault { return tc.fault }})
			body := "{}"
			if tc.op == "TransactWriteItems" {
				body = transact
			}
			status, typ, err := post(url, tc.op, body)
			if tc.fault == faultproxy.ClosedConnection {
				if err == nil {
					t.Fatalf("got HTTP %d, want the connection closed", status)
				}
			} else if err != nil || status != tc.status || typ != tc.typ {
				t.Fatalf("got %d %q %v, want %d %q", status, typ, err, tc.status, tc.typ)
			}
			if got := up.calls.Load() > 0; got != tc.forwarded {
				t.Errorf("forwarded = %v, want %v", got, tc.forwarded)
			}
			if got := p.Stats().WriteUnits[tc.op]; got != tc.units {
				t.Errorf("write units %d, want %d", got, tc.units)
			}
		})
	}
}

// TestSeeded: the same seed gives the same faults in the same order, and
// about Rate of the requests get one.
func TestSeeded(t *testing.T) {
	run := func(seed uint64) []string {
		_, _, url := mustProxy(t, faultproxy.Config{Seed: seed, Rate: 0.3, Faults: []faultproxy.Fault{faultproxy.Throttle, faultproxy.Unavailable}})
		var got []string
		for range 200 {
			status, typ, err := post(url, "GetItem", "{}")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprint(status, typ))
		}
		return got
	}
	a, b, c := run(1), run(1), run(2)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Error("the same seed gave different faults")
	}
	if strings.Join(a, ",") == strings.Join(c, ",") {
		t.Error("different seeds gave the same faults")
	}
	faults := 0
	for _, s := range a {
		if !strings.HasPrefix(s, "200") {
			faults++
		}
	}
	if faults < 30 || faults > 90 {
		t.Errorf("%d of 200 requests faulted at rate 0.3", faults)
	}
}

// TestOpsAndUnits: only the listed operations get faults, and the write
// units are counted per operation.
func TestOpsAndUnits(t *testing.T) {
	p, _, url := mustProxy(t, faultproxy.Config{Seed: 3, Rate: 1, Faults: []faultproxy.Fault{faultproxy.Throttle}, Ops: []string{"GetItem"}})
	for _, r := range []struct{ op, body string }{
		{"GetItem", "{}"},
		{"UpdateItem", "{}"},
		{"UpdateItem", "{}"},
		{"TransactWriteItems", transact},
		{"BatchWriteItem", `{"RequestItems":{"a":[{"PutRequest":{}},{"DeleteRequest":{}}],"b":[{"PutRequest":{}}]}}`},
		{"Query", "{}"},
	} {
		if _, _, err := post(url, r.op, r.body); err != nil {
			t.Fatal(err)
		}
	}
	s := p.Stats()
	want := map[string]int64{"UpdateItem": 2, "TransactWriteItems": 6, "BatchWriteItem": 3}
	if fmt.Sprint(s.WriteUnits) != fmt.Sprint(want) || s.TotalWriteUnits() != 11 {
		t.Errorf("write units %v (total %d), want %v (total 11)", s.WriteUnits, s.TotalWriteUnits(), want)
	}
	if s.Faults[faultproxy.Throttle] != 1 || s.Requests["UpdateItem"] != 2 {
		t.Errorf("stats %+v: want 1 throttle (GetItem only), 2 UpdateItem requests", s)
	}
	p.Reset()
	if s := p.Stats(); s.TotalWriteUnits() != 0 || len(s.Requests) != 0 {
		t.Errorf("after Reset: %+v", s)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		upstream string
		rate     float64
	}{{"not a url", 0}, {"http://127.0.0.1:1", 1.5}, {"http://127.0.0.1:1", -0.1}} {
		if _, err := faultproxy.New(tc.upstream, faultproxy.Config{Rate: tc.rate}); err == nil {
			t.Errorf("New(%q, rate %v) accepted", tc.upstream, tc.rate)
		}
	}
}

// TestConflictRule: while a transaction is in flight (its latency), a
// transaction touching one of its items is cancelled with TransactionConflict
// on that item only, a single-item write of it is rejected with
// TransactionConflictException, and writes of other items go through.
func TestConflictRule(t *testing.T) {
	const prefix = "com.amazonaws.dynamodb.v20120810#"
	_, _, url := mustProxy(t, faultproxy.Config{Conflicts: true, Latency: map[string]time.Duration{"TransactWriteItems": 300 * time.Millisecond}})
	first := `{"TransactItems":[{"Put":{"TableName":"m","Item":{"id":{"S":"1"},"x":{"N":"1"}}}},{"Update":{"TableName":"d","Key":{"datapoint":{"S":"a"}}}}]}`
	second := `{"TransactItems":[{"Put":{"TableName":"m","Item":{"id":{"S":"2"}}}},{"Update":{"TableName":"d","Key":{"datapoint":{"S":"b"}}}},{"Update":{"TableName":"d","Key":{"datapoint":{"S":"a"}}}}]}`
	done := make(chan string)
	go func() {
		status, typ, err := post(url, "TransactWriteItems", first)
		done <- fmt.Sprintf("%d %s %v", status, typ, err)
	}()
	time.Sleep(100 * time.Millisecond) // the first is in flight
	for _, tc := range []struct{ op, body, want string }{
		{"TransactWriteItems", second, "400 " + prefix + "TransactionCanceledException[{None} {None} {TransactionConflict}]"},
		{"UpdateItem", `{"TableName":"d","Key":{"datapoint":{"S":"a"}}}`, "400 " + prefix + "TransactionConflictException"},
		{"PutItem", `{"TableName":"m","Item":{"id":{"S":"1"}}}`, "400 " + prefix + "TransactionConflictException"},
		{"UpdateItem", `{"TableName":"d","Key":{"datapoint":{"S":"b"}}}`, "200 "},
		{"UpdateItem", `{"TableName":"other","Key":{"datapoint":{"S":"a"}}}`, "200 "},
	} {
		status, typ, err := post(url, tc.op, tc.body)
		if got := fmt.Sprint(status, " ", typ); err != nil || got != tc.want {
			t.Errorf("%s %s during a transaction: got %q %v, want %q", tc.op, tc.body, got, err, tc.want)
		}
	}
	if got := <-done; got != "200  <nil>" {
		t.Fatalf("the first transaction: %s", got)
	}
	// Released: the same writes now go through.
	if status, typ, err := post(url, "TransactWriteItems", second); err != nil || status != 200 {
		t.Errorf("after the first transaction: %d %s %v", status, typ, err)
	}
}

// TestLatency: each operation waits its configured latency.
func TestLatency(t *testing.T) {
	lat := faultproxy.DynamoDBLatency()
	if lat["TransactWriteItems"] != faultproxy.TransactLatency || lat["UpdateItem"] != faultproxy.WriteLatency || lat["GetItem"] != 0 {
		t.Fatalf("DynamoDBLatency() = %v", lat)
	}
	_, _, url := mustProxy(t, faultproxy.Config{Latency: map[string]time.Duration{"UpdateItem": 80 * time.Millisecond}})
	for _, tc := range []struct {
		op       string
		min, max time.Duration
	}{{"UpdateItem", 80 * time.Millisecond, time.Hour}, {"GetItem", 0, 70 * time.Millisecond}} {
		start := time.Now()
		if _, _, err := post(url, tc.op, "{}"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < tc.min || d > tc.max {
			t.Errorf("%s took %v, want within [%v, %v]", tc.op, d, tc.min, tc.max)
		}
	}
}
