// Package secrets reads secret settings (the markets ETL's QUANDL_API_KEY,
// FRED_API_KEY and DATABASE_URL, SPEC §5, §6) from environment variables that hold base64 KMS
// ciphertexts, as the Lambda console's encryption helper makes them: encrypted
// under the encryption context {"LambdaFunctionName": <function name>}.
// Plaintext values are accepted only when the caller asks for them
// (SECRETS_PLAINTEXT=true, for local runs).
//
// No secret, plaintext or ciphertext, ever appears in an error it returns.
// Each adapter keeps its own secrets out of its errors (the source clients
// their API key, the warehouse its URL): nothing scrubs texts afterwards.
package secrets

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
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

// Cache reads secret settings with getenv and decrypts each once per
// process (a cold start), however often it is asked for. It is safe for
// concurrent use.
type Cache struct {
	dec    Decrypter
	getenv func(string) string

	mu     sync.Mutex
	values map[string]string
}

// NewCache returns a Cache decrypting with d the settings getenv reads.
func NewCache(d Decrypter, getenv func(string) string) *Cache {
	return &Cache{dec: d, getenv: getenv, values: map[string]string{}}
}

// Get returns the plaintext of the setting name, decrypting it on first
// use. A missing setting, or one empty once decrypted, is an error; a
// failure is not remembered, so the next Get tries again.
func (c *Cache) Get(ctx context.Context, name string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.values[name]; ok {
		return v, nil
	}
	v := c.getenv(name)
	if v == "" {
		return "", fmt.Errorf("%s is not set", name)
	}
	p, err := c.dec.Decrypt(ctx, name, v)
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", fmt.Errorf("%s is empty once decrypted", name)
	}
	c.values[name] = p
	return p, nil
}
