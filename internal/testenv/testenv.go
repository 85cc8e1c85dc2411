// Package testenv starts the real protocol implementations the tests talk to:
// DynamoDB (minidyn in process, dynalite from npm), SQS (fauxqs from npm),
// moto_server (many AWS services, CloudFormation among them) and a scratch
// PostgreSQL database. It points the AWS SDK at them only through its
// standard environment settings (AWS_ENDPOINT_URL_DYNAMODB, ...).
//
// A missing service skips the test on a developer machine but fails it when
// CI=true, so CI can never pass by silently testing nothing.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/jackc/pgx/v5"
	miniserver "github.com/truora/minidyn/server"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/faultproxy"
	"github.com/acmecheckout/reports/internal/purchase"
)

// Region is the AWS region every emulator-backed test uses.
const Region = "us-east-1"

// Missing reports that a service the test needs is not available: the test is
// skipped locally and fails under CI=true.
func Missing(t testing.TB, service string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but is not available: %v", service, err)
	}
	t.Skipf("%s not available (%v); install it (`make deps` installs the npm emulators) or set CI=true to fail instead", service, err)
}

// AWSEnv isolates the SDK's default configuration from the machine (no shared
// config files, no instance metadata) and gives it a region and static fake
// credentials. It returns nothing; endpoints are set by the service helpers.
func AWSEnv(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_REGION", Region)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	unsetEnv(t, "AWS_SESSION_TOKEN")
	unsetEnv(t, "AWS_PROFILE")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	unsetEnv(t, "AWS_ENDPOINT_URL")
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

// Minidyn starts an in-process minidyn DynamoDB server, points
// AWS_ENDPOINT_URL_DYNAMODB at it and returns its URL.
func Minidyn(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(miniserver.NewServer())
	t.Cleanup(srv.Close)
	AWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.URL)
	return srv.URL
}

// Dynalite starts the dynalite DynamoDB emulator from node_modules, points
// AWS_ENDPOINT_URL_DYNAMODB at it and returns its URL.
func Dynalite(t testing.TB) string {
	t.Helper()
	port := FreePort(t)
	u := StartNode(t, "dynalite", []string{"--port", port}, nil, port)
	AWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", u)
	return u
}

// Fauxqs starts the fauxqs SQS emulator from node_modules, points
// AWS_ENDPOINT_URL_SQS at it and returns its URL.
func Fauxqs(t testing.TB) string {
	t.Helper()
	port := FreePort(t)
	env := []string{"FAUXQS_PORT=" + port, "FAUXQS_LOGGER=false", "FAUXQS_HOST=localhost", "FAUXQS_DEFAULT_REGION=" + Region}
	u := StartNode(t, "fauxqs", nil, env, port)
	AWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_SQS", u)
	return u
}

// StartNode runs node_modules/.bin/NAME with args and extra environment, waits
// until 127.0.0.1:port accepts connections and returns http://127.0.0.1:port.
// The process is killed when the test ends.
func StartNode(t testing.TB, name string, args, env []string, port string) string {
	t.Helper()
	bin, err := NodeBin(name)
	if err != nil {
		Missing(t, name, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		Missing(t, name, fmt.Errorf("node: %w", err))
	}
	u, _ := StartProcess(t, name, bin, args, env, port)
	return u
}

// StartProcess runs the program at path with args and extra environment, its
// output going to a log file, waits until 127.0.0.1:port accepts connections
// and returns http://127.0.0.1:port and the log file's path. The process (and
// its children) is killed when the test ends. A program that cannot start is
// Missing.
func StartProcess(t testing.TB, name, path string, args, env []string, port string) (url, logPath string) {
	t.Helper()
	logFile, err := os.CreateTemp(t.TempDir(), name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		Missing(t, name, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		_ = logFile.Close()
	})
	addr := net.JoinHostPort("127.0.0.1", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + addr, logFile.Name()
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logFile.Name())
			t.Fatalf("%s did not listen on %s within 30s: %v\n%s", name, addr, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
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

// NodeBin returns the path of node_modules/.bin/NAME in the module root.
func NodeBin(name string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "node_modules", ".bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not installed (run `make deps`): %w", p, err)
	}
	return p, nil
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
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

// Tables creates a fresh datapoints table, and an idempotency table when
// withIdempotency, with unique names, as the stack defines them.
func Tables(t testing.TB, c *dynamodb.Client, withIdempotency bool) (datapoints, idempotency string) {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	datapoints = "datapoints-" + suffix
	if withIdempotency {
		idempotency = "idempotency-" + suffix
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamo.CreateTables(ctx, c, datapoints, idempotency); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	return datapoints, idempotency
}

// FaultyMinidyn starts minidyn behind a fault-injecting proxy configured by
// cfg, points AWS_ENDPOINT_URL_DYNAMODB at the proxy, and returns the proxy
// and minidyn's own URL (for setting up and checking without faults).
func FaultyMinidyn(t testing.TB, cfg faultproxy.Config) (*faultproxy.Proxy, string) {
	t.Helper()
	upstream := Minidyn(t)
	p, err := faultproxy.New(upstream, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.URL)
	return p, upstream
}

// ScanCounts returns every datapoint of a datapoints table with its count,
// sorted by datapoint, read with a consistent Scan. A datapoint at zero (one
// whose increments were all taken back) is left out.
func ScanCounts(t testing.TB, c *dynamodb.Client, table string) []purchase.Count {
	t.Helper()
	counts := []purchase.Count{}
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
				counts = append(counts, purchase.Count{Datapoint: dp.Value, Events: v})
			}
		}
	}
	slices.SortFunc(counts, func(a, b purchase.Count) int { return strings.Compare(a.Datapoint, b.Datapoint) })
	return counts
}
