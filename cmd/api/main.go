// Command api is the read API (SPEC §8): the purchase reports and the markets
// data as JSON over HTTPS, never writing anything.
//
// Under AWS Lambda (AWS_LAMBDA_RUNTIME_API set; provided.al2023, built with
// -tags lambda.norpc) it serves its Function URL, whose InvokeMode is
// RESPONSE_STREAM: aws-lambda-go's lambdaurl package adapts the http.Handler
// to the Function URL's streaming response (it does not support BUFFERED).
// Elsewhere `api serve --addr 127.0.0.1:8080` serves the same routes over
// plain HTTP. Configuration is read and the database URL decrypted once, at
// start; bad configuration is a Runtime.ConfigError (Lambda) or exit 1.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
