package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/lambdainit"
	"github.com/acmecheckout/reports/internal/sqs"
)

// Env is what the program takes from its process.
type Env struct {
	// Getenv reads the environment (os.Getenv).
	Getenv func(string) string
	// Stdin is the command's input when no file is named.
	Stdin io.Reader
	// Stdout receives the EMF metrics in Lambda, the summary as a command.
	Stdout io.Writer
	// Stderr receives the JSON logs, and as a command the problems per event.
	Stderr io.Writer
	// Start runs the Lambda runtime loop with a handler (lambda.Start); it
	// returns only in tests.
	Start func(handler any)
}

// exitError ends the program with code after everything was reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// ExitCode is the status the process exits with.
func (e exitError) ExitCode() int { return e.code }

// settings is the aggregator's configuration (SPEC §4).
type settings struct {
	table            string // TABLE_NAME, required
	idempotencyTable string // IDEMPOTENCY_TABLE_NAME: exactly-once counting
	dlqURL           string // DLQ_URL: where invalid events go
	functionName     string // AWS_LAMBDA_FUNCTION_NAME: the EMF dimension
	runtimeAPI       string // AWS_LAMBDA_RUNTIME_API: set inside Lambda only
}

// configFromEnv reads the configuration, with an error naming what is missing.
func configFromEnv(getenv func(string) string) (settings, error) {
	c := settings{
		table:            getenv("TABLE_NAME"),
		idempotencyTable: getenv("IDEMPOTENCY_TABLE_NAME"),
		dlqURL:           getenv("DLQ_URL"),
		functionName:     getenv("AWS_LAMBDA_FUNCTION_NAME"),
		runtimeAPI:       getenv("AWS_LAMBDA_RUNTIME_API"),
	}
	if c.functionName == "" {
		c.functionName = aggregator.DefaultFunctionName
	}
	if c.table == "" {
		return c, errors.New("TABLE_NAME is required: set it to the DynamoDB datapoints table")
	}
	return c, nil
}

// run wires the aggregator and runs it: inside Lambda it hands the SQS
// handler to env.Start, otherwise it replays its input. A configuration error
// is logged (and in Lambda posted to the Runtime API's init/error) and
// returned as exit status 2; a replay that found invalid or failed events
// returns exit status 1.
func run(ctx context.Context, args []string, env Env) error {
	log := slog.New(slog.NewJSONHandler(env.Stderr, nil))
	cfg, err := configFromEnv(env.Getenv)
	var h *aggregator.Handler
	if err == nil {
		h, err = newHandler(ctx, cfg, env, log)
	}
	if err != nil {
		log.Error("aggregator configuration", "error", err.Error())
		if cfg.runtimeAPI != "" {
			if postErr := lambdainit.PostError(ctx, cfg.runtimeAPI, lambdainit.ConfigError, err); postErr != nil {
				log.Error("report init error", "error", postErr.Error())
			}
		}
		return exitError{2}
	}
	if cfg.runtimeAPI != "" {
		env.Start(h.Handle)
		return nil
	}
	return replay(ctx, h, args, env)
}

// newHandler builds the Handler, its store and its dead-letter queue. In
// Lambda it emits EMF metrics on Stdout and logs on Stderr; as a command it
// logs nothing per batch (the replay reports instead).
func newHandler(ctx context.Context, cfg settings, env Env, log *slog.Logger) (*aggregator.Handler, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	storeOpts := []dynamo.Option{dynamo.WithLogger(log)}
	if cfg.idempotencyTable != "" {
		storeOpts = append(storeOpts, dynamo.WithIdempotencyTable(cfg.idempotencyTable))
	}
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg), cfg.table, storeOpts...)

	var opts []aggregator.Option
	if cfg.dlqURL != "" {
		opts = append(opts, aggregator.WithDeadLetter(sqs.NewDeadLetter(awssqs.NewFromConfig(awsCfg), cfg.dlqURL)))
	}
	if cfg.runtimeAPI != "" {
		opts = append(opts, aggregator.WithLogger(log), aggregator.WithMetrics(env.Stdout, cfg.functionName))
	} else {
		opts = append(opts, aggregator.WithLogger(slog.New(slog.DiscardHandler)))
	}
	return aggregator.New(store, opts...), nil
}

// replay is the command: it replays each named file (or stdin) and prints
// one JSON summary of them all on Stdout.
func replay(ctx context.Context, h *aggregator.Handler, args []string, env Env) error {
	fs := flag.NewFlagSet("aggregator", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	source := fs.String("source", "", "name of the input in JSON-line identities (default: the file name, or stdin)")
	keyField := fs.String("key-field", "", "take each JSON line's identity from this field instead")
	if err := fs.Parse(args); err != nil {
		return exitError{2}
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	if *source != "" && len(files) > 1 {
		fmt.Fprintln(env.Stderr, "--source names one input: give one file, or none for stdin")
		return exitError{2}
	}
	var total aggregator.ReplaySummary
	var failed error
	for _, name := range files {
		sum, err := replayFile(ctx, h, name, *source, *keyField, env)
		if total.Input == "" || sum.Messages > 0 {
			total.Input = sum.Input
		}
		total.Add(sum.Summary)
		if err != nil {
			fmt.Fprintln(env.Stderr, err)
			failed = err
			break
		}
	}
	b, err := json.Marshal(total)
	if err != nil {
		return fmt.Errorf("marshal summary: %w", err)
	}
	fmt.Fprintf(env.Stdout, "%s\n", b)
	switch {
	case failed != nil:
		return exitError{2}
	case total.Invalid > 0 || total.Failed > 0:
		return exitError{1}
	}
	return nil
}

// replayFile replays one input: a file, or stdin for "-".
func replayFile(ctx context.Context, h *aggregator.Handler, name, source, keyField string, env Env) (aggregator.ReplaySummary, error) {
	in, label := env.Stdin, "stdin"
	if name != "-" {
		f, err := os.Open(name) //nolint:gosec // the operator names the files to replay
		if err != nil {
			return aggregator.ReplaySummary{Input: "jsonl"}, fmt.Errorf("open input: %w", err)
		}
		defer f.Close()
		in, label = f, name
	}
	if source != "" {
		label = source
	}
	opts := []aggregator.ReplayOption{aggregator.WithSource(label)}
	if keyField != "" {
		opts = append(opts, aggregator.WithKeyField(keyField))
	}
	sum, err := aggregator.Replay(ctx, h, in, env.Stderr, opts...)
	if err != nil && name != "-" {
		err = fmt.Errorf("%s: %w", name, err)
	}
	return sum, err
}
