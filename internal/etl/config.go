// Package etl is the markets ETL (SPEC §5): it plans which jobs load which
// date windows, fetches every dataset of those jobs from Quandl and upserts
// it into the warehouse, and reports a summary per job. It runs as the
// cmd/etl Lambda function (App.Handle) and as a command (CLI).
//
// Configuration, from the environment:
//
//	QUANDL_API_KEY      Quandl / Nasdaq Data Link API key (secret, required)
//	DATABASE_URL        PostgreSQL URL of the warehouse (secret, required)
//	SECRETS_PLAINTEXT   "true": the two secrets are in clear (local runs);
//	                    otherwise they are base64 KMS ciphertexts made with the
//	                    Lambda console's helper (encryption context
//	                    LambdaFunctionName=$AWS_LAMBDA_FUNCTION_NAME)
//	QUANDL_BASE_URL     API root (default https://data.nasdaq.com/api/v3)
//	QUANDL_CONCURRENCY  datasets loaded, and requests made, at once (default 1)
//	HEALTHCHECK_URL     optional: GET after every fully successful run
//
// plus the SDK's standard AWS settings (AWS_REGION, AWS_ENDPOINT_URL_KMS, ...).
// Secrets are decrypted once per process (cold start) and never logged.
package etl

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/acmecheckout/reports/internal/quandl"
)

// Names of the secret settings.
const (
	EnvQuandlAPIKey = "QUANDL_API_KEY"
	EnvDatabaseURL  = "DATABASE_URL"
)

// maxConcurrency bounds QUANDL_CONCURRENCY; the API allows few concurrent
// requests per key.
const maxConcurrency = 16

// Config is the ETL's non-secret configuration.
type Config struct {
	QuandlBaseURL    string
	HealthcheckURL   string
	Concurrency      int
	PlaintextSecrets bool
	// FunctionName is AWS_LAMBDA_FUNCTION_NAME, the KMS encryption context.
	FunctionName string
}

// ConfigFromEnv reads the Config from getenv (e.g. os.Getenv), with
// defaults, and rejects malformed values.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		QuandlBaseURL:  getenv("QUANDL_BASE_URL"),
		HealthcheckURL: getenv("HEALTHCHECK_URL"),
		Concurrency:    1,
		FunctionName:   getenv("AWS_LAMBDA_FUNCTION_NAME"),
	}
	if c.QuandlBaseURL == "" {
		c.QuandlBaseURL = quandl.DefaultBaseURL
	}
	if u, err := url.Parse(c.QuandlBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Config{}, fmt.Errorf("QUANDL_BASE_URL %q: want an http(s) URL", c.QuandlBaseURL)
	}
	if c.HealthcheckURL != "" {
		// The URL may carry a token: do not echo it.
		if u, err := url.Parse(c.HealthcheckURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Config{}, fmt.Errorf("HEALTHCHECK_URL: want an http(s) URL")
		}
	}
	if s := getenv("QUANDL_CONCURRENCY"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxConcurrency {
			return Config{}, fmt.Errorf("QUANDL_CONCURRENCY %q: want an integer from 1 to %d", s, maxConcurrency)
		}
		c.Concurrency = n
	}
	switch s := getenv("SECRETS_PLAINTEXT"); s {
	case "", "false":
	case "true":
		c.PlaintextSecrets = true
	default:
		return Config{}, fmt.Errorf("SECRETS_PLAINTEXT %q: want true or false", s)
	}
	return c, nil
}
