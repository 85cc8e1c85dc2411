// Package testenv starts the real protocol implementations the tests talk to
// and points the AWS SDK at them only through its standard environment
// settings (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS, ...):
//
//   - DynamoDB: DynamoDB Local, one per test binary, shared by its tests,
//     which keep apart by unique table names (DynamoDBLocal, Tables,
//     UniqueName); a fault-injecting proxy in front of it where faults or
//     write units matter (DynamoDB.FaultProxy).
//   - SQS: fauxqs, one per test (Fauxqs).
//   - KMS: local-kms, seeded with a key, one per test (LocalKMS).
//   - PostgreSQL: a scratch database on a real server (Postgres).
//   - many AWS services (CloudFormation, S3, ...): moto_server, one per test
//     (Moto, MotoS3); S3 also gofakes3 in process (GoFakeS3).
//
// A missing service skips the test on a developer machine but fails it when
// CI=true, so CI can never pass by silently testing nothing.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/jackc/pgx/v5"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/emulator"
	"github.com/acmecheckout/reports/internal/purchase"
)

// Region is the AWS region every emulator-backed test uses.
const Region = emulator.Region

// Missing reports that a service the test needs is not available: the test is
// skipped locally and fails under CI=true.
func Missing(t testing.TB, service string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but is not available: %v", service, err)
	}
	t.Skipf("%s not available (%v); install it (`make deps` installs the npm emulators) or set CI=true to fail instead", service, err)
}

// isolated marks, in the environment, a test that AWSEnv has isolated: the
// endpoints that service helpers set afterwards must survive later calls.
const isolated = "TESTENV_AWS_ISOLATED"

// AWSEnv isolates the SDK's default configuration from the machine (no shared
// config files, no instance metadata, no endpoints set outside the test) and
// gives it a region and static fake credentials, for the rest of t. The
// service helpers call it, then set their endpoints; calling it again in the
// same test changes nothing.
func AWSEnv(t testing.TB) {
	t.Helper()
	if os.Getenv(isolated) == "true" {
		return
	}
	dir := t.TempDir()
	t.Setenv(isolated, "true")
	t.Setenv("AWS_REGION", Region)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	unsetEnv(t, "AWS_SESSION_TOKEN")
	unsetEnv(t, "AWS_PROFILE")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_S3"} {
		unsetEnv(t, k)
	}
}

// unsetEnv removes key from the environment until the test ends. (An empty
// value is not the same to every client: Python's botocore, in moto_server and
// the SAM transform, takes an empty AWS_PROFILE for a profile name.)
func unsetEnv(t testing.TB, key string) {
	t.Helper()
	t.Setenv(key, "") // restores the previous value when the test ends
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}

// Fauxqs starts the fauxqs SQS emulator from node_modules for t, points
// AWS_ENDPOINT_URL_SQS at it and returns its URL.
func Fauxqs(t testing.TB) string {
	t.Helper()
	nodeModules, err := emulator.NodeModules(mustModuleRoot(t))
	if err != nil {
		Missing(t, "fauxqs", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p, err := emulator.Fauxqs(nodeModules, port)
	if err != nil {
		Missing(t, "fauxqs", err)
	}
	startForTest(t, p)
	AWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_SQS", p.Endpoint)
	return p.Endpoint
}

// StartProcess runs the program at path with args and extra environment, its
// output going to a log file, waits until 127.0.0.1:port accepts connections
// and returns http://127.0.0.1:port and the log file's path. The process (and
// its children) is killed when the test ends. A program that cannot start is
// Missing.
func StartProcess(t testing.TB, name, path string, args, env []string, port string) (url, logPath string) {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", port)
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &emulator.Process{Name: name, Endpoint: "http://" + addr, Cmd: cmd, Ready: func(ctx context.Context) error {
		return emulator.Accepts(ctx, addr)
	}}
	return p.Endpoint, startForTest(t, p)
}

// Moto starts moto_server (the Python AWS emulator: CloudFormation, S3, IAM,
// Lambda, SQS, DynamoDB, KMS, ...) on a free port, points AWS_ENDPOINT_URL
// (every service) at it and returns its URL and the path of its log.
func Moto(t testing.TB) (url, logPath string) {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		Missing(t, "moto_server (Python: pip install 'moto[server]')", err)
	}
	port := FreePort(t)
	AWSEnv(t)
	u, logPath := StartProcess(t, "moto_server", bin, []string{"-H", "127.0.0.1", "-p", port}, nil, port)
	t.Setenv("AWS_ENDPOINT_URL", u)
	return u, logPath
}

// mustModuleRoot is ModuleRoot for a test.
func mustModuleRoot(t testing.TB) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// ModuleRoot returns the directory holding go.mod, searching upward from the
// working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(port)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// DefaultPostgresURL is the admin connection used when TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Postgres creates a fresh, empty database on the server named by
// TEST_DATABASE_URL (default DefaultPostgresURL), drops it when the test ends
// and returns its connection URL.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		admin = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		Missing(t, "PostgreSQL", err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + strings.ToLower(hex.EncodeToString(b))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// UniqueName returns prefix followed by a random suffix: a table or queue
// name no other test uses.
func UniqueName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// Tables creates a fresh datapoints table, and an idempotency table when
// withIdempotency, with unique names, as the stack defines them.
func Tables(t testing.TB, c *dynamodb.Client, withIdempotency bool) (datapoints, idempotency string) {
	t.Helper()
	datapoints = UniqueName("datapoints")
	if withIdempotency {
		idempotency = UniqueName("idempotency")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamo.CreateTables(ctx, c, datapoints, idempotency); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	return datapoints, idempotency
}

// ScanCounts returns every datapoint of a datapoints table with its count,
// sorted by datapoint, read with a consistent Scan. A datapoint at zero (one
// whose increments were all taken back) is left out.
func ScanCounts(t testing.TB, c *dynamodb.Client, table string) []purchase.Total {
	t.Helper()
	counts := []purchase.Total{}
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for _, item := range page.Items {
			dp, _ := item[dynamo.AttrDatapoint].(*ddbtypes.AttributeValueMemberS)
			n, _ := item[dynamo.AttrEvents].(*ddbtypes.AttributeValueMemberN)
			if dp == nil || n == nil {
				t.Fatalf("scan %s: malformed item %v", table, item)
			}
			v, err := strconv.ParseInt(n.Value, 10, 64)
			if err != nil {
				t.Fatalf("scan %s: events %q: %v", table, n.Value, err)
			}
			if v != 0 {
				counts = append(counts, purchase.Total{Datapoint: dp.Value, Events: v})
			}
		}
	}
	slices.SortFunc(counts, func(a, b purchase.Total) int { return strings.Compare(a.Datapoint, b.Datapoint) })
	return counts
}
