package bench_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/acmecheckout/reports/internal/lambdatest"
	"github.com/acmecheckout/reports/internal/testenv"
)

// functions are the two Lambda functions, with the environment the stack
// gives them (secrets as KMS ciphertexts, decrypted on first use, not at
// init). Nothing is contacted at init: the endpoints are never reached.
var functions = []struct {
	name, pkg string
	env       []string
}{
	{"aggregator", "./cmd/aggregator", []string{
		"TABLE_NAME=datapoints", "IDEMPOTENCY_TABLE_NAME=idempotency",
		"DLQ_URL=http://127.0.0.1:9/123456789012/purchases-dlq",
		"AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:9", "AWS_ENDPOINT_URL_SQS=http://127.0.0.1:9",
	}},
	{"etl", "./cmd/etl", []string{
		"QUANDL_API_KEY=AQICAHh0ZXN0Y2lwaGVydGV4dA==", "DATABASE_URL=AQICAHh0ZXN0Y2lwaGVydGV4dA==",
		"QUANDL_BASE_URL=http://127.0.0.1:9/api/v3", "QUANDL_CONCURRENCY=1",
		"AWS_ENDPOINT_URL_KMS=http://127.0.0.1:9",
	}},
}

// build is one way of building a bootstrap: "ours" as the Makefile and SAM
// do (lambdatest.Build: -tags lambda.norpc -trimpath -ldflags "-s -w"), or
// "naive", a plain `go build -trimpath`.
type build func(t testing.TB, root, pkg, goos, goarch string) string

var builds = []struct {
	name  string
	build build
}{
	{"ours", lambdatest.Build},
	{"naive", naiveBuild},
}

func naiveBuild(t testing.TB, root, pkg, goos, goarch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func mustRoot(t testing.TB) string {
	t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// BenchmarkColdStart measures, for each function and build, the time from
// starting the bootstrap process to its first /runtime/invocation/next
// request to a lambdatest Runtime API (ms/coldstart). The binaries are built
// for this machine; Lambda runs the arm64 ones.
func BenchmarkColdStart(b *testing.B) {
	root := mustRoot(b)
	for _, fn := range functions {
		for _, bl := range builds {
			bin := bl.build(b, root, fn.pkg, runtime.GOOS, runtime.GOARCH)
			b.Run(fn.name+"/"+bl.name, func(b *testing.B) {
				dir := b.TempDir()
				env := append([]string{
					"", // the Runtime API, per process
					"AWS_LAMBDA_FUNCTION_NAME=" + fn.name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
					"AWS_REGION=" + testenv.Region, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
					"AWS_SESSION_TOKEN=test", "AWS_EC2_METADATA_DISABLED=true", "TZ=UTC",
					"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
					"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
				}, fn.env...)
				var total time.Duration
				b.ResetTimer()
				for range b.N {
					rt := lambdatest.NewServer(b)
					env[0] = rt.Env()
					p := lambdatest.Start(b, bin, env)
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					ready, err := rt.WaitReady(ctx)
					cancel()
					if err != nil {
						b.Fatalf("%s did not poll for invocations: %v\n%s", fn.name, err, p.Stderr())
					}
					total += ready.Sub(p.Started)
				}
				b.ReportMetric(float64(total)/float64(time.Millisecond)/float64(b.N), "ms/coldstart")
			})
		}
	}
}

// BenchmarkBinarySize builds each function's linux/arm64 bootstrap, as
// Lambda runs it, each way, and reports its size in MB (10^6 bytes).
func BenchmarkBinarySize(b *testing.B) {
	root := mustRoot(b)
	for _, fn := range functions {
		for _, bl := range builds {
			bin := bl.build(b, root, fn.pkg, "linux", "arm64")
			st, err := os.Stat(bin)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fn.name+"/"+bl.name, func(b *testing.B) {
				for range b.N {
					// The size is the figure; there is nothing to time.
				}
				b.ReportMetric(float64(st.Size())/1e6, "MB")
			})
		}
	}
}
