// Package secrets reads secret settings (the markets ETL's QUANDL_API_KEY and
// DATABASE_URL, SPEC §5) from environment variables that hold base64 KMS
// ciphertexts, as the Lambda console's encryption helper makes them: encrypted
// under the encryption context {"LambdaFunctionName": <function name>}.
// Plaintext values are accepted only when the caller asks for them
// (SECRETS_PLAINTEXT=true, for local runs).
//
// No secret, plaintext or ciphertext, ever appears in an error it returns;
// Scrub does the same for errors from elsewhere.
package secrets

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/jackc/pgx/v5/pgconn"
)

// ContextKey is the encryption context key the Lambda console's helper uses.
const ContextKey = "LambdaFunctionName"

// Decrypter turns a setting's stored value into its plaintext.
type Decrypter interface {
	// Decrypt returns the plaintext of value, the stored value of the
	// setting called name (used in errors only).
	Decrypt(ctx context.Context, name, value string) (string, error)
}

// Plaintext is the Decrypter of local runs: values are stored in clear.
type Plaintext struct{}

// Decrypt returns value unchanged.
func (Plaintext) Decrypt(_ context.Context, _, value string) (string, error) { return value, nil }

// KMSAPI is the part of the KMS client KMS uses (*kms.Client implements it).
type KMSAPI interface {
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// KMS decrypts base64 KMS ciphertexts made for one Lambda function.
type KMS struct {
	client       KMSAPI
	functionName string
}

// NewKMS returns a Decrypter calling client with the encryption context
// {"LambdaFunctionName": functionName}.
func NewKMS(client KMSAPI, functionName string) *KMS {
	return &KMS{client: client, functionName: functionName}
}

// Decrypt base64-decodes value and decrypts it with KMS. Errors name the
// setting, never its value.
func (k *KMS) Decrypt(ctx context.Context, name, value string) (string, error) {
	blob, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
	if err != nil || len(blob) == 0 {
		return "", fmt.Errorf("decrypt %s: not a base64 KMS ciphertext (set SECRETS_PLAINTEXT=true for plaintext values)", name)
	}
	out, err := k.client.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    blob,
		EncryptionContext: map[string]string{ContextKey: k.functionName},
	})
	if err != nil {
		return "", fmt.Errorf("decrypt %s with KMS (encryption context %s=%q): %w", name, ContextKey, k.functionName, err)
	}
	return string(out.Plaintext), nil
}

// New returns Plaintext when plaintext is true, and otherwise a KMS
// Decrypter for the Lambda function functionName, its client configured by
// the SDK's standard settings (AWS_REGION, AWS_ENDPOINT_URL_KMS, ...).
func New(ctx context.Context, plaintext bool, functionName string) (Decrypter, error) {
	if plaintext {
		return Plaintext{}, nil
	}
	if functionName == "" {
		return nil, errors.New("secrets: AWS_LAMBDA_FUNCTION_NAME is not set; it names the KMS encryption context (or set SECRETS_PLAINTEXT=true for local runs)")
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("secrets: load AWS config: %w", err)
	}
	return NewKMS(kms.NewFromConfig(cfg), functionName), nil
}

// Resolve reads the settings names with getenv and decrypts each with d. A
// missing setting is an error.
func Resolve(ctx context.Context, d Decrypter, getenv func(string) string, names ...string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	for _, name := range names {
		v := getenv(name)
		if v == "" {
			return nil, fmt.Errorf("%s is not set", name)
		}
		p, err := d.Decrypt(ctx, name, v)
		if err != nil {
			return nil, err
		}
		if p == "" {
			return nil, fmt.Errorf("%s is empty once decrypted", name)
		}
		out[name] = p
	}
	return out, nil
}

// Scrub returns err with every non-empty secret in its text replaced by
// REDACTED (longest first, so that a secret containing another goes whole).
// It still unwraps to err, for errors.Is; print only its Error().
func Scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	changed := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg, changed = strings.ReplaceAll(msg, s, "REDACTED"), true
		}
	}
	if !changed {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}

// scrubbed is an error whose text had secrets removed.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// DatabaseURLSecrets returns what of a PostgreSQL connection string must not
// be printed, for Scrub: the string itself and its password, user and
// host(s), raw and URL-escaped.
func DatabaseURLSecrets(databaseURL string) []string {
	out := []string{databaseURL}
	cfg, err := pgconn.ParseConfig(databaseURL)
	if err != nil {
		return out
	}
	for _, s := range []string{cfg.Password, cfg.User, cfg.Host} {
		out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
	}
	for _, fb := range cfg.Fallbacks {
		out = append(out, fb.Host)
	}
	return out
}
