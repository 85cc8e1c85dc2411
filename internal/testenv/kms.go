package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/acmecheckout/reports/internal/emulator"
	"github.com/acmecheckout/reports/internal/secrets"
)

// KMSAlias is the alias of the key LocalKMS seeds.
const KMSAlias = "alias/lambda"

// kmsAccount is the account local-kms plays.
const kmsAccount = "111122223333"

// KMS is a local-kms server (github.com/nsmithuk/local-kms, the version
// go.mod pins) for one test, seeded with one symmetric key, KMSAlias.
// Requests reach it through a proxy that counts them.
type KMS struct {
	// URL is the endpoint, for AWS_ENDPOINT_URL_KMS.
	URL string
	// KeyARN is the seeded key's ARN.
	KeyARN string

	client *kms.Client
	mu     sync.Mutex
	calls  map[string]int
}

// LocalKMS starts a KMS for t and points the SDK's standard configuration at
// it (AWSEnv, then AWS_ENDPOINT_URL_KMS).
func LocalKMS(t testing.TB) *KMS {
	t.Helper()
	k := StartLocalKMS(t)
	AWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_KMS", k.URL)
	return k
}

// StartLocalKMS starts a KMS for t without touching the environment: for a
// second KMS whose key the first does not know.
func StartLocalKMS(t testing.TB) *KMS {
	t.Helper()
	bin := GoTool(t, "local-kms")
	dir := t.TempDir()
	keyID, backingKey := newUUID(), make([]byte, 32)
	_, _ = rand.Read(backingKey)
	seed := fmt.Sprintf("Keys:\n  Symmetric:\n    Aes:\n      - Metadata:\n          KeyId: %s\n        BackingKeys:\n          - %s\nAliases:\n  - AliasName: %s\n    TargetKeyId: %s\n",
		keyID, hex.EncodeToString(backingKey), KMSAlias, keyID)
	seedPath := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(seedPath, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	k := &KMS{
		KeyARN: "arn:aws:kms:" + Region + ":" + kmsAccount + ":key/" + keyID,
		calls:  map[string]int{},
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "KMS_REGION="+Region, "KMS_ACCOUNT_ID="+kmsAccount,
		"KMS_SEED_PATH="+seedPath, "KMS_DATA_PATH="+filepath.Join(dir, "data"))
	direct := kmsClient(endpoint)
	startForTest(t, &emulator.Process{Name: "local-kms", Endpoint: endpoint, Cmd: cmd, Ready: func(ctx context.Context) error {
		_, err := direct.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(KMSAlias)}) // seeded, too
		return err
	}})

	upstream, _ := url.Parse(endpoint)
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
		k.mu.Lock()
		k.calls[op]++
		k.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	k.URL = srv.URL
	k.client = direct
	return k
}

// Encrypt returns the base64 KMS ciphertext of plaintext under the seeded
// key and the encryption context of the Lambda console's helper,
// {"LambdaFunctionName": functionName}, as an environment variable holds it.
func (k *KMS) Encrypt(t testing.TB, plaintext, functionName string) string {
	t.Helper()
	return k.EncryptWithContext(t, plaintext, map[string]string{secrets.ContextKey: functionName})
}

// EncryptWithContext returns the base64 KMS ciphertext of plaintext under the
// seeded key and encryptionContext (nil: none).
func (k *KMS) EncryptWithContext(t testing.TB, plaintext string, encryptionContext map[string]string) string {
	t.Helper()
	out, err := k.client.Encrypt(context.Background(), &kms.EncryptInput{
		KeyId: aws.String(KMSAlias), Plaintext: []byte(plaintext), EncryptionContext: encryptionContext,
	})
	if err != nil {
		t.Fatalf("KMS Encrypt: %v", err)
	}
	return base64.StdEncoding.EncodeToString(out.CiphertextBlob)
}

// DisableKey disables the seeded key.
func (k *KMS) DisableKey(t testing.TB) {
	t.Helper()
	if _, err := k.client.DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(k.KeyARN)}); err != nil {
		t.Fatalf("KMS DisableKey: %v", err)
	}
}

// Calls returns how many requests of operation (e.g. "Decrypt") came
// through URL, the test's own Encrypt and DisableKey calls excluded.
func (k *KMS) Calls(operation string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.calls[operation]
}

// kmsClient is a KMS client for endpoint with static test credentials.
func kmsClient(endpoint string) *kms.Client {
	return kms.New(kms.Options{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
	})
}

// newUUID returns a random (version 4) UUID, the form of KMS key ids.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
