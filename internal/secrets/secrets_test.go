package secrets_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/acmecheckout/reports/internal/secrets"
	"github.com/acmecheckout/reports/internal/testenv"
)

const function = "markets-etl"

// mustKMS starts local-kms, seeded with a key, and a Decrypter for function
// that reaches it through the SDK's standard configuration.
func mustKMS(t *testing.T) (*testenv.KMS, secrets.Decrypter) {
	t.Helper()
	k := testenv.LocalKMS(t)
	d, err := secrets.New(context.Background(), false, function)
	if err != nil {
		t.Fatal(err)
	}
	return k, d
}

// TestKMSDecrypt decrypts real local-kms ciphertexts through the SDK client.
// Errors name the setting and never show the secret or its ciphertext.
func TestKMSDecrypt(t *testing.T) {
	k, d := mustKMS(t)
	const secret = "postgres://etl:pa55w0rd@db.internal:5432/dw"
	foreign := testenv.StartLocalKMS(t) // another KMS: its key is unknown to k
	tests := []struct {
		name    string
		value   string
		setup   func(testing.TB)
		want    string
		wantErr string
	}{
		{name: "console helper ciphertext", value: k.Encrypt(t, secret, function), want: secret},
		{name: "surrounding whitespace", value: " " + k.Encrypt(t, secret, function) + "\n", want: secret},
		{name: "wrong encryption context", value: k.Encrypt(t, secret, "another-function"), wantErr: "InvalidCiphertextException"},
		{name: "no encryption context", value: k.EncryptWithContext(t, secret, nil), wantErr: "InvalidCiphertextException"},
		{name: "extra encryption context", value: k.EncryptWithContext(t, secret, map[string]string{secrets.ContextKey: function, "stage": "prod"}), wantErr: "InvalidCiphertextException"},
		{name: "unknown key", value: foreign.Encrypt(t, secret, function), wantErr: "AccessDeniedException"},
		{name: "plaintext without SECRETS_PLAINTEXT", value: secret, wantErr: "not a base64 KMS ciphertext"},
		{name: "garbage ciphertext", value: encode([]byte("0123456789abcdefghijklmnopqrstuvwxyz")), wantErr: "InvalidCiphertextException"},
		// Last: it disables the key. KMS answers DisabledException;
		// local-kms answers AccessDeniedException, as for an unknown key.
		{name: "disabled key", value: k.Encrypt(t, secret, function), setup: k.DisableKey, wantErr: "AccessDeniedException"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			got, err := d.Decrypt(context.Background(), "DATABASE_URL", tc.value)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("Decrypt = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decrypt = %q, want an error", got)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantErr) || !strings.Contains(msg, "DATABASE_URL") {
				t.Errorf("error %q: want %q and the setting's name", msg, tc.wantErr)
			}
			for _, leak := range []string{secret, "pa55w0rd", strings.TrimSpace(tc.value)} {
				if strings.Contains(msg, leak) {
					t.Errorf("error %q contains %q", msg, leak)
				}
			}
		})
	}
	if n := k.Calls("Decrypt"); n != 8 {
		t.Errorf("%d KMS Decrypt calls, want 8 (one per base64 value)", n)
	}
}

func TestResolve(t *testing.T) {
	k, d := mustKMS(t)
	env := map[string]string{"QUANDL_API_KEY": k.Encrypt(t, "qk-123", function), "DATABASE_URL": k.Encrypt(t, "postgres://x", function)}
	got, err := secrets.Resolve(context.Background(), d, mapEnv(env), "QUANDL_API_KEY", "DATABASE_URL")
	if err != nil || got["QUANDL_API_KEY"] != "qk-123" || got["DATABASE_URL"] != "postgres://x" {
		t.Fatalf("Resolve = %v, %v", got, err)
	}
	if _, err := secrets.Resolve(context.Background(), d, mapEnv(env), "QUANDL_API_KEY", "HEALTH"); err == nil || !strings.Contains(err.Error(), "HEALTH is not set") {
		t.Errorf("missing setting: error %v", err)
	}
	plain, err := secrets.New(context.Background(), true, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err = secrets.Resolve(context.Background(), plain, mapEnv(map[string]string{"QUANDL_API_KEY": "qk-123"}), "QUANDL_API_KEY")
	if err != nil || got["QUANDL_API_KEY"] != "qk-123" {
		t.Errorf("plaintext Resolve = %v, %v", got, err)
	}
}

func TestNewNeedsFunctionName(t *testing.T) {
	testenv.AWSEnv(t)
	if _, err := secrets.New(context.Background(), false, ""); err == nil || !strings.Contains(err.Error(), "AWS_LAMBDA_FUNCTION_NAME") {
		t.Errorf("error = %v, want it to name AWS_LAMBDA_FUNCTION_NAME", err)
	}
}

func TestScrub(t *testing.T) {
	base := errors.New("connect postgres://etl:p%40ss@db.internal:5432/dw: user etl password p@ss at db.internal failed")
	dsn := "postgres://etl:p%40ss@db.internal:5432/dw"
	got := secrets.Scrub(base, secrets.DatabaseURLSecrets(dsn)...)
	for _, leak := range []string{"p@ss", "p%40ss", "db.internal", "etl"} {
		if strings.Contains(got.Error(), leak) {
			t.Errorf("%q contains %q", got, leak)
		}
	}
	if !errors.Is(got, base) {
		t.Error("scrubbed error does not unwrap to the original")
	}
	if secrets.Scrub(nil, "x") != nil {
		t.Error("Scrub(nil) != nil")
	}
	if e := errors.New("nothing secret"); secrets.Scrub(e, "", "pw") != e {
		t.Error("Scrub changed an error with no secret in it")
	}
}

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
