package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/acmecheckout/reports/internal/fred"
	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/quandl"
	"github.com/acmecheckout/reports/internal/secrets"
)

// The settings, from the environment (README: "The markets ETL").
const (
	envCatalog           = "ETL_CATALOG"
	envQuandlAPIKey      = "QUANDL_API_KEY" //nolint:gosec // a setting's name, not a credential
	envFredAPIKey        = "FRED_API_KEY"   //nolint:gosec // a setting's name, not a credential
	envDatabaseURL       = "DATABASE_URL"
	envLakeURL           = "LAKE_URL"
	envQuandlBaseURL     = "QUANDL_BASE_URL"
	envFredBaseURL       = "FRED_BASE_URL"
	envQuandlConcurrency = "QUANDL_CONCURRENCY"
	envHealthcheckURL    = "HEALTHCHECK_URL"
	envTaskRoot          = "LAMBDA_TASK_ROOT"
	envRuntimeAPI        = "AWS_LAMBDA_RUNTIME_API"
)

// maxQuandlConcurrency bounds QUANDL_CONCURRENCY; the API allows few
// concurrent requests per key.
const maxQuandlConcurrency = 16

// config is the ETL's non-secret configuration.
type config struct {
	// catalogPath is the catalog file ("" for the embedded default).
	catalogPath       string
	quandlBaseURL     string
	fredBaseURL       string
	healthcheckURL    string
	quandlConcurrency int
	// functionName is AWS_LAMBDA_FUNCTION_NAME, the metrics' FunctionName
	// (secrets.FromEnv reads it as the KMS encryption context).
	functionName string
}

// loadConfig reads the configuration from getenv, with defaults, and
// rejects malformed values. A relative ETL_CATALOG is a path in the
// function's bundle (LAMBDA_TASK_ROOT) when that is set. The secrets'
// settings (SECRETS_PLAINTEXT, ...) are secrets.FromEnv's.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		catalogPath:       catalogPath(getenv),
		quandlBaseURL:     getenv(envQuandlBaseURL),
		fredBaseURL:       getenv(envFredBaseURL),
		healthcheckURL:    getenv(envHealthcheckURL),
		quandlConcurrency: 1,
		functionName:      getenv(secrets.EnvFunctionName),
	}
	if c.quandlBaseURL == "" {
		c.quandlBaseURL = quandl.DefaultBaseURL
	}
	if c.fredBaseURL == "" {
		c.fredBaseURL = fred.DefaultBaseURL
	}
	for _, u := range []struct{ name, value string }{{envQuandlBaseURL, c.quandlBaseURL}, {envFredBaseURL, c.fredBaseURL}} {
		if !isHTTPURL(u.value) {
			return config{}, fmt.Errorf("%s %q: want an http(s) URL", u.name, u.value)
		}
	}
	if c.healthcheckURL != "" && !isHTTPURL(c.healthcheckURL) {
		return config{}, fmt.Errorf("%s: want an http(s) URL", envHealthcheckURL) // it may carry a token: not echoed
	}
	if s := getenv(envQuandlConcurrency); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxQuandlConcurrency {
			return config{}, fmt.Errorf("%s %q: want an integer from 1 to %d", envQuandlConcurrency, s, maxQuandlConcurrency)
		}
		c.quandlConcurrency = n
	}
	return c, nil
}

// catalogPath returns the file ETL_CATALOG names ("" for none): a relative
// path is one in the function's bundle (LAMBDA_TASK_ROOT) when that is set,
// so that catalogs/maintained.json works in Lambda whatever the directory.
func catalogPath(getenv func(string) string) string {
	p := getenv(envCatalog)
	if p != "" && !filepath.IsAbs(p) && getenv(envTaskRoot) != "" {
		p = filepath.Join(getenv(envTaskRoot), p)
	}
	return p
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// loadCatalog reads and validates the catalog at path, or returns the
// embedded default for "". setting names where the path came from, for
// errors.
func loadCatalog(path, setting string) (markets.Catalog, error) {
	if path == "" {
		return markets.DefaultCatalog()
	}
	b, err := os.ReadFile(path) //nolint:gosec // the catalog the operator names is meant to be read
	if err != nil {
		return markets.Catalog{}, fmt.Errorf("%s: %w (the build copies catalogs/ into the function's bundle: name a file there, e.g. catalogs/maintained.json)", setting, err)
	}
	c, err := markets.ParseCatalog(b)
	if err != nil {
		return markets.Catalog{}, fmt.Errorf("%s %s: %w", setting, path, err)
	}
	return c, nil
}

// checkSettings rejects, at start, a configuration that could not run the
// catalog: a secret its sources need is missing, or there is nowhere to
// store the series (neither DATABASE_URL nor LAKE_URL).
func checkSettings(cat markets.Catalog, getenv func(string) string) error {
	var errs []error
	need := func(name string, n int, sources string) {
		if n > 0 && getenv(name) == "" {
			errs = append(errs, fmt.Errorf("%s is not set: the catalog has %d %s series", name, n, sources))
		}
	}
	need(envQuandlAPIKey, cat.Count(markets.SourceQuandl)+cat.Count(markets.SourceQuandlTable), "quandl and quandl-table")
	need(envFredAPIKey, cat.Count(markets.SourceFRED), "fred")
	if getenv(envDatabaseURL) == "" && getenv(envLakeURL) == "" {
		errs = append(errs, fmt.Errorf("neither %s nor %s is set: the ETL needs somewhere to store the series", envDatabaseURL, envLakeURL))
	}
	return errors.Join(errs...)
}
