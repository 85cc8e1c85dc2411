package bench_test

import (
	"bytes"
	"context"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/acmecheckout/reports/internal/bench"
	"github.com/acmecheckout/reports/internal/faultproxy"
	"github.com/acmecheckout/reports/internal/simulate"
	"github.com/acmecheckout/reports/internal/testenv"
)

// mustWorkload generates cfg's purchases as deliveries.
func mustWorkload(t testing.TB, cfg simulate.Config) bench.Workload {
	t.Helper()
	w, err := bench.NewWorkload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// counted is DynamoDB Local behind a fault-free faultproxy, which counts
// the write units of what it forwards.
type counted struct {
	proxy *faultproxy.Proxy
	// direct bypasses the proxy (table setup, checks); client goes through
	// it, found by the SDK's standard configuration.
	direct, client *dynamodb.Client
}

// mustCounted puts a proxy in front of DynamoDB Local, and points
// AWS_ENDPOINT_URL_DYNAMODB at the proxy. observe, when not nil, sees every
// request's operation and body (concurrently) and must not change them.
func mustCounted(t testing.TB, observe func(op string, body []byte)) counted {
	t.Helper()
	cfg := faultproxy.Config{}
	if observe != nil {
		cfg.Decide = func(op string, body []byte) faultproxy.Fault {
			observe(op, body)
			return faultproxy.None
		}
	}
	db := testenv.DynamoDBLocal(t)
	p := db.FaultProxy(t, cfg)
	return counted{proxy: p, direct: db.Client, client: mustClient(t)}
}

// mustClient builds a DynamoDB client from the SDK's standard configuration.
func mustClient(t testing.TB) *dynamodb.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return dynamodb.NewFromConfig(cfg)
}

// instantDynamoDB answers every DynamoDB request in process with a
// successful empty response ({}), so that the SDK and the store do all their
// work (serialization, signing, response handling) but no I/O happens.
type instantDynamoDB struct{}

var emptyCRC = strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte("{}"))), 10)

func (instantDynamoDB) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Status:        "200 OK",
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amz-Crc32": {emptyCRC}},
		Body:          io.NopCloser(bytes.NewReader([]byte("{}"))),
		ContentLength: 2,
		Request:       r,
	}, nil
}

// mustInstantClient is a DynamoDB client from the standard configuration
// whose requests instantDynamoDB answers.
func mustInstantClient(t testing.TB) *dynamodb.Client {
	t.Helper()
	testenv.AWSEnv(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: instantDynamoDB{}}
	})
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
