package secrets

import (
	"context"
	"fmt"
)

// Settings that choose the Decrypter (FromEnv).
const (
	// EnvPlaintext, "true", says the secret settings are in clear (local runs).
	EnvPlaintext = "SECRETS_PLAINTEXT"
	// EnvFunctionName names the Lambda function, the KMS encryption context.
	EnvFunctionName = "AWS_LAMBDA_FUNCTION_NAME"
)

// FromEnv returns the Decrypter the environment asks for: Plaintext when
// SECRETS_PLAINTEXT is "true"; otherwise KMS with the encryption context
// LambdaFunctionName=$AWS_LAMBDA_FUNCTION_NAME (see New). SECRETS_PLAINTEXT
// other than "", "true" or "false" is an error.
func FromEnv(ctx context.Context, getenv func(string) string) (Decrypter, error) {
	var plaintext bool
	switch s := getenv(EnvPlaintext); s {
	case "", "false":
	case "true":
		plaintext = true
	default:
		return nil, fmt.Errorf("%s %q: want true or false", EnvPlaintext, s)
	}
	return New(ctx, plaintext, getenv(EnvFunctionName))
}
