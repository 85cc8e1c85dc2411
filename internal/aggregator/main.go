package aggregator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/lambdainit"
	"github.com/acmecheckout/reports/internal/sqs"
)

// Config is the aggregator's configuration (SPEC §4).
type Config struct {
	// Table is the datapoints table (TABLE_NAME, required).
	Table string
	// IdempotencyTable turns on exactly-once counting (IDEMPOTENCY_TABLE_NAME).
	IdempotencyTable string
	// DLQURL is the queue invalid events are sent to (DLQ_URL); when empty
	// they are reported as batch item failures.
	DLQURL string
	// FunctionName is the EMF dimension (AWS_LAMBDA_FUNCTION_NAME, default
	// DefaultFunctionName).
	FunctionName string
	// RuntimeAPI is the Lambda Runtime API address (AWS_LAMBDA_RUNTIME_API);
	// empty outside Lambda, where the program is a command.
	RuntimeAPI string
}

// ConfigFromEnv reads the configuration with getenv (os.Getenv in main). It
// returns an error naming what is missing.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Table:            getenv("TABLE_NAME"),
		IdempotencyTable: getenv("IDEMPOTENCY_TABLE_NAME"),
		DLQURL:           getenv("DLQ_URL"),
		FunctionName:     getenv("AWS_LAMBDA_FUNCTION_NAME"),
		RuntimeAPI:       getenv("AWS_LAMBDA_RUNTIME_API"),
	}
	if c.FunctionName == "" {
		c.FunctionName = DefaultFunctionName
	}
	if c.Table == "" {
		return c, errors.New("TABLE_NAME is required: set it to the DynamoDB datapoints table")
	}
	return c, nil
}

// Main is the aggregator program. Inside Lambda (AWS_LAMBDA_RUNTIME_API set)
// it hands the SQS handler to Start; otherwise it replays events from Stdin
// (see Replay). cmd/aggregator fills it from the process.
type Main struct {
	// Getenv reads the environment (os.Getenv).
	Getenv func(string) string
	// Stdin is the command's input.
	Stdin io.Reader
	// Stdout receives the EMF metrics in Lambda, the summary as a command.
	Stdout io.Writer
	// Stderr receives the JSON logs, and as a command the problems per line.
	Stderr io.Writer
	// Start runs the Lambda runtime loop with a handler (lambda.Start).
	Start func(handler any)
}

// Run wires the aggregator and runs it. It returns the process exit code:
// 0 on success, 1 when the command found invalid or failed events, 2 on a
// configuration or input error. In Lambda it returns only if configuration
// fails, after reporting the error to the Runtime API's init/error.
func (m *Main) Run(ctx context.Context) int {
	log := slog.New(slog.NewJSONHandler(m.Stderr, nil))
	cfg, err := ConfigFromEnv(m.Getenv)
	var h *Handler
	if err == nil {
		h, err = m.handler(ctx, cfg, log)
	}
	if err != nil {
		log.Error("aggregator configuration", "error", err.Error())
		if cfg.RuntimeAPI != "" {
			if postErr := lambdainit.PostError(ctx, cfg.RuntimeAPI, lambdainit.ConfigError, err); postErr != nil {
				log.Error("report init error", "error", postErr.Error())
			}
		}
		return 2
	}
	if cfg.RuntimeAPI != "" {
		m.Start(h.Handle)
		return 0
	}
	return m.replay(ctx, h)
}

// handler builds the Handler and its store and dead-letter queue. In Lambda
// it emits EMF metrics on Stdout and logs on Stderr; as a command it logs
// nothing per batch (Replay reports instead).
func (m *Main) handler(ctx context.Context, cfg Config, log *slog.Logger) (*Handler, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	var storeOpts []dynamo.Option
	storeOpts = append(storeOpts, dynamo.WithLogger(log))
	if cfg.IdempotencyTable != "" {
		storeOpts = append(storeOpts, dynamo.WithIdempotencyTable(cfg.IdempotencyTable))
	}
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg), cfg.Table, storeOpts...)

	var opts []Option
	if cfg.DLQURL != "" {
		opts = append(opts, WithDeadLetter(sqs.NewDeadLetter(awssqs.NewFromConfig(awsCfg), cfg.DLQURL)))
	}
	if cfg.RuntimeAPI != "" {
		opts = append(opts, WithLogger(log), WithMetrics(m.Stdout, cfg.FunctionName))
	} else {
		opts = append(opts, WithLogger(slog.New(slog.DiscardHandler)))
	}
	return New(store, opts...), nil
}
