package secrets_test

import (
	"context"
	"encoding/base64"
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

// TestCache: each setting is decrypted once, however often it is asked
// for; a missing setting is an error, and a failure is tried again.
func TestCache(t *testing.T) {
	k, d := mustKMS(t)
	env := map[string]string{"QUANDL_API_KEY": k.Encrypt(t, "qk-123", function), "DATABASE_URL": k.Encrypt(t, "postgres://x", function),
		"FRED_API_KEY": k.Encrypt(t, "fk", "another-function")}
	c := secrets.NewCache(d, mapEnv(env))
	for range 3 {
		for name, want := range map[string]string{"QUANDL_API_KEY": "qk-123", "DATABASE_URL": "postgres://x"} {
			if got, err := c.Get(context.Background(), name); err != nil || got != want {
				t.Fatalf("Get(%s) = %q, %v", name, got, err)
			}
		}
	}
	if n := k.Calls("Decrypt"); n != 2 {
		t.Errorf("%d KMS calls for two settings asked for three times, want 2", n)
	}
	if _, err := c.Get(context.Background(), "HEALTH"); err == nil || err.Error() != "HEALTH is not set" {
		t.Errorf("missing setting: error %v", err)
	}
	for range 2 {
		if _, err := c.Get(context.Background(), "FRED_API_KEY"); err == nil || !strings.Contains(err.Error(), "InvalidCiphertextException") {
			t.Errorf("ciphertext for another function: error %v", err)
		}
	}
	if n := k.Calls("Decrypt"); n != 4 {
		t.Errorf("%d KMS calls, want a failed decryption tried again", n)
	}
	plain, err := secrets.New(context.Background(), true, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := secrets.NewCache(plain, mapEnv(map[string]string{"QUANDL_API_KEY": "qk-123"})).Get(context.Background(), "QUANDL_API_KEY"); err != nil || got != "qk-123" {
		t.Errorf("plaintext Get = %v, %v", got, err)
	}
}

func TestNewNeedsFunctionName(t *testing.T) {
	testenv.AWSEnv(t)
	if _, err := secrets.New(context.Background(), false, ""); err == nil || !strings.Contains(err.Error(), "AWS_LAMBDA_FUNCTION_NAME") {
		t.Errorf("error = %v, want it to name AWS_LAMBDA_FUNCTION_NAME", err)
	}
}

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestFromEnv(t *testing.T) {
	testenv.AWSEnv(t)
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name    string
		getenv  func(string) string
		want    string
		wantErr string
	}{
		{"plaintext", env("SECRETS_PLAINTEXT", "true"), "secrets.Plaintext", ""},
		{"KMS", env("AWS_LAMBDA_FUNCTION_NAME", "reports-api"), "*secrets.KMS", ""},
		{"KMS, explicitly", env("SECRETS_PLAINTEXT", "false", "AWS_LAMBDA_FUNCTION_NAME", "reports-api"), "*secrets.KMS", ""},
		{"KMS without a function name", env(), "", "AWS_LAMBDA_FUNCTION_NAME is not set"},
		{"bad SECRETS_PLAINTEXT", env("SECRETS_PLAINTEXT", "yes"), "", `SECRETS_PLAINTEXT "yes": want true or false`},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			d, err := secrets.FromEnv(context.Background(), tc.getenv)
			if got := fmt.Sprintf("%T", d); (tc.wantErr == "" && (err != nil || got != tc.want)) ||
				(tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr))) {
				t.Errorf("FromEnv = %s, %v; want %s, %q", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
