package testenv

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// GoFakeS3 starts an in-process gofakes3 S3 server (in-memory backend) with
// the given buckets, points AWS_ENDPOINT_URL_S3 at it and returns its URL.
// Its conditional writes (If-Match, If-None-Match: *) are checked and
// applied under one lock, as S3 does: use it to test concurrent writers.
func GoFakeS3(t testing.TB, buckets ...string) string {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatalf("gofakes3: create bucket %s: %v", b, err)
		}
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithAutoBucket(false)).Server())
	t.Cleanup(srv.Close)
	AWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
	return srv.URL
}

// MotoS3 starts moto_server (the Python AWS emulator, on PATH), creates the
// given buckets, points AWS_ENDPOINT_URL_S3 at it and returns its URL. Its
// conditional writes are checked but not atomically with the write, so it
// is no judge of concurrent writers.
func MotoS3(t testing.TB, buckets ...string) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		Missing(t, "moto_server", err)
	}
	port := FreePort(t)
	logFile, err := os.CreateTemp(t.TempDir(), "moto-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", port)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		Missing(t, "moto_server", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		_ = logFile.Close()
	})
	addr := net.JoinHostPort("127.0.0.1", port)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logFile.Name())
			t.Fatalf("moto_server did not listen on %s within 60s: %v\n%s", addr, err, out)
		}
	}
	u := "http://" + addr
	AWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_S3", u)
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	for _, b := range buckets {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("moto: create bucket %s: %v", b, err)
		}
	}
	return u
}
