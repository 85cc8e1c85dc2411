// Package lambdainit reports a Lambda function's failure to initialize to the
// Lambda Runtime API, so that Lambda shows the reason (in the invoke error and
// the logs) instead of an unexplained exit. It is for custom runtimes
// (provided.al2023) whose main fails before handing a handler to aws-lambda-go.
//
// See https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html#runtimes-api-initerror.
package lambdainit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ConfigError is the error type of a configuration error.
const ConfigError = "Runtime.ConfigError"

// timeout bounds the report: a function that cannot start must not hang.
const timeout = 2 * time.Second

// PostError posts cause, as errorType (e.g. ConfigError), to the Runtime
// API's /runtime/init/error at api (host:port, the AWS_LAMBDA_RUNTIME_API
// setting). The caller then exits non-zero. cause's text is sent as is: it
// must hold no secret.
func PostError(ctx context.Context, api, errorType string, cause error) error {
	body, err := json.Marshal(map[string]string{"errorMessage": cause.Error(), "errorType": errorType})
	if err != nil {
		return fmt.Errorf("marshal init error: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post init error: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", errorType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("post init error: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("post init error: status %s", resp.Status)
	}
	return nil
}
