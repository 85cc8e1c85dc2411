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
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/simulate"
	"github.com/acmecheckout/reports/internal/sqs"
	"github.com/acmecheckout/reports/internal/sqsloop"
)

// Exit codes of the command.
const (
	exitOK     = 0
	exitFailed = 1 // a message was not sent, or SQS or DynamoDB failed
	exitUsage  = 2 // bad arguments or configuration
)

const usage = `usage:
  sqsloop up [--dir .local] [--sqs-port 4566] [--dynamodb-port 4567]
  sqsloop down [--dir .local]
  sqsloop tables --table T [--idempotency-table T]
  sqsloop queues NAME [--visibility 30s] [--max-receive 3] [--env]
  sqsloop generate [--count 1000] [--invalid 5] [--merchants 100] [--days 1] [--seed 1] [--start YYYY-MM-DD]
  sqsloop publish FILE|- --queue URL [--key-field NAME]
  sqsloop poll --queue URL [--table T] [--idempotency-table T] [--dlq-url URL] [--drain] [--batch 10] [--wait 20s]
Run "sqsloop COMMAND -h" for a command's flags.`

// CLI is the sqsloop command, wired from the process by main.
type CLI struct {
	// Getenv reads the environment (os.Getenv).
	Getenv func(string) string
	// Stdin is read by "publish -".
	Stdin io.Reader
	// Stdout receives results (JSON), Stderr usage, errors and JSON logs.
	Stdout, Stderr io.Writer
}

// errUsage marks an error the user fixes by changing the arguments.
var errUsage = errors.New("usage")

// Run runs the command with args (without the program name) and returns the
// exit code.
func (c *CLI) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(c.Stderr, usage)
		return exitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "up":
		err = c.up(ctx, rest)
	case "down":
		err = c.down(rest)
	case "tables":
		err = c.tables(ctx, rest)
	case "queues":
		err = c.queues(ctx, rest)
	case "generate":
		err = c.generate(rest)
	case "publish":
		err = c.publish(ctx, rest)
	case "poll":
		err = c.poll(ctx, rest)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(c.Stderr, usage)
		return exitOK
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(c.Stderr, "sqsloop: %v\n%s\n", err, usage)
		return exitUsage
	default:
		fmt.Fprintf(c.Stderr, "sqsloop: %v\n", err)
		return exitFailed
	}
}

func (c *CLI) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("sqsloop "+name, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	return fs
}

// parse parses flags placed before or after the positional arguments and
// checks their number.
func parse(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != positional {
		return nil, fmt.Errorf("%w: %s wants %d argument(s), got %q", errUsage, fs.Name(), positional, pos)
	}
	return pos, nil
}

func (c *CLI) json(v any) error {
	enc := json.NewEncoder(c.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

func awsConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return cfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// queues creates NAME-dlq and NAME, whose redrive policy moves a message to
// NAME-dlq after max-receive receives, and prints their URLs.
func (c *CLI) queues(ctx context.Context, args []string) error {
	fs := c.flags("queues")
	visibility := fs.Duration("visibility", 30*time.Second, "visibility timeout of the main queue (whole seconds)")
	maxReceive := fs.Int("max-receive", 3, "receives before a message moves to the dead-letter queue")
	env := fs.Bool("env", false, "print export QUEUE_URL=... and DLQ_URL=... lines for the shell's eval instead of JSON")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *visibility < 0 || *visibility > 12*time.Hour || *maxReceive < 1 || *maxReceive > 1000 {
		return fmt.Errorf("%w: --visibility must be 0s to 12h and --max-receive 1 to 1000", errUsage)
	}
	cfg, err := awsConfig(ctx)
	if err != nil {
		return err
	}
	client := awssqs.NewFromConfig(cfg)
	name := pos[0]
	dlq, err := client.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		return fmt.Errorf("create queue %s-dlq: %w", name, err)
	}
	attrs, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
		QueueUrl:       dlq.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("get arn of %s-dlq: %w", name, err)
	}
	policy, err := json.Marshal(map[string]any{
		"deadLetterTargetArn": attrs.Attributes[string(types.QueueAttributeNameQueueArn)],
		"maxReceiveCount":     *maxReceive,
	})
	if err != nil {
		return fmt.Errorf("redrive policy: %w", err)
	}
	main, err := client.CreateQueue(ctx, &awssqs.CreateQueueInput{
		QueueName: aws.String(name),
		Attributes: map[string]string{
			string(types.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(visibility.Seconds())),
			string(types.QueueAttributeNameRedrivePolicy):     string(policy),
		},
	})
	if err != nil {
		return fmt.Errorf("create queue %s: %w", name, err)
	}
	if *env {
		_, err := fmt.Fprintf(c.Stdout, "export QUEUE_URL=%s\nexport DLQ_URL=%s\n", aws.ToString(main.QueueUrl), aws.ToString(dlq.QueueUrl))
		return err
	}
	return c.json(map[string]string{"queueUrl": aws.ToString(main.QueueUrl), "dlqUrl": aws.ToString(dlq.QueueUrl)})
}

// tables creates the datapoints table (and the idempotency table, if named)
// as the stack defines them, when missing, and prints their names.
func (c *CLI) tables(ctx context.Context, args []string) error {
	fs := c.flags("tables")
	table := fs.String("table", c.Getenv("TABLE_NAME"), "datapoints table (default $TABLE_NAME)")
	idem := fs.String("idempotency-table", c.Getenv("IDEMPOTENCY_TABLE_NAME"), "idempotency table to create too (default $IDEMPOTENCY_TABLE_NAME)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *table == "" {
		return fmt.Errorf("%w: no table: set --table or TABLE_NAME", errUsage)
	}
	cfg, err := awsConfig(ctx)
	if err != nil {
		return err
	}
	if err := dynamo.CreateTables(ctx, dynamodb.NewFromConfig(cfg), *table, *idem); err != nil {
		return err
	}
	return c.json(map[string]string{"table": *table, "idempotencyTable": *idem})
}

// generate writes a seeded day (or days) of purchases as JSON lines.
func (c *CLI) generate(args []string) error {
	fs := c.flags("generate")
	var cfg simulate.Config
	fs.IntVar(&cfg.Count, "count", 1000, "valid purchases")
	fs.IntVar(&cfg.Invalid, "invalid", 5, "invalid events mixed in")
	fs.IntVar(&cfg.Merchants, "merchants", 100, "distinct merchants")
	fs.IntVar(&cfg.Days, "days", 1, "consecutive UTC days")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	start := fs.String("start", simulate.DefaultStart.Format(time.DateOnly), "first UTC `day` YYYY-MM-DD")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	var err error
	if cfg.Start, err = time.Parse(time.DateOnly, *start); err != nil {
		return fmt.Errorf("%w: --start %q is not a day YYYY-MM-DD", errUsage, *start)
	}
	if cfg.Merchants < 1 || cfg.Days < 1 {
		return fmt.Errorf("%w: --merchants and --days must be at least 1", errUsage)
	}
	msgs, err := simulate.Generate(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return simulate.WriteJSONLines(c.Stdout, msgs)
}

// publish sends a JSON-lines file to a queue and prints what was sent.
func (c *CLI) publish(ctx context.Context, args []string) error {
	fs := c.flags("publish")
	queue := fs.String("queue", c.Getenv("QUEUE_URL"), "queue `URL` (default $QUEUE_URL)")
	keyField := fs.String("key-field", "", "send each line's JSON field `NAME` (a string or a number) as message attribute idempotencyKey, so a line sent twice is counted once")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *queue == "" {
		return fmt.Errorf("%w: no queue: set --queue or QUEUE_URL", errUsage)
	}
	in := c.Stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0]) //nolint:gosec // G703: the file the user named on the command line is what publish reads
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		defer f.Close()
		in = f
	}
	cfg, err := awsConfig(ctx)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(c.Stderr, nil))
	opts := []sqsloop.PublisherOption{sqsloop.WithPublisherLogger(log)}
	if *keyField != "" {
		opts = append(opts, sqsloop.WithKeyField(*keyField))
	}
	p := sqsloop.NewPublisher(awssqs.NewFromConfig(cfg), *queue, opts...)
	res, err := p.PublishLines(ctx, in)
	if jerr := c.json(res); jerr != nil && err == nil {
		err = jerr
	}
	return err
}

// poll runs the local event source: it feeds the aggregator until
// interrupted, or with --drain until the queue is empty.
func (c *CLI) poll(ctx context.Context, args []string) error {
	fs := c.flags("poll")
	queue := fs.String("queue", c.Getenv("QUEUE_URL"), "queue `URL` (default $QUEUE_URL)")
	table := fs.String("table", c.Getenv("TABLE_NAME"), "datapoints table (default $TABLE_NAME)")
	idem := fs.String("idempotency-table", c.Getenv("IDEMPOTENCY_TABLE_NAME"), "idempotency table for exactly-once counting (default $IDEMPOTENCY_TABLE_NAME)")
	dlq := fs.String("dlq-url", c.Getenv("DLQ_URL"), "dead-letter queue `URL` for invalid events (default $DLQ_URL; empty: report them as batch item failures)")
	drain := fs.Bool("drain", false, "stop when the queue is empty instead of polling until interrupted")
	batch := fs.Int("batch", 10, "batch size, 1 to 10")
	wait := fs.Duration("wait", 20*time.Second, "long-polling wait, up to 20s")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	switch {
	case *queue == "":
		return fmt.Errorf("%w: no queue: set --queue or QUEUE_URL", errUsage)
	case *table == "":
		return fmt.Errorf("%w: no table: set --table or TABLE_NAME", errUsage)
	case *batch < 1 || *batch > 10:
		return fmt.Errorf("%w: --batch must be 1 to 10", errUsage)
	case *wait < 0 || *wait > 20*time.Second:
		return fmt.Errorf("%w: --wait must be 0s to 20s", errUsage)
	}
	cfg, err := awsConfig(ctx)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(c.Stderr, nil))
	storeOpts := []dynamo.Option{dynamo.WithLogger(log)}
	if *idem != "" {
		storeOpts = append(storeOpts, dynamo.WithIdempotencyTable(*idem))
	}
	client := awssqs.NewFromConfig(cfg)
	handlerOpts := []aggregator.Option{aggregator.WithLogger(log)}
	if *dlq != "" {
		handlerOpts = append(handlerOpts, aggregator.WithDeadLetter(sqs.NewDeadLetter(client, *dlq)))
	}
	h := aggregator.New(dynamo.New(dynamodb.NewFromConfig(cfg), *table, storeOpts...), handlerOpts...)
	p := sqsloop.NewPoller(client, *queue, h.Handle, sqsloop.WithBatchSize(*batch), sqsloop.WithWaitTime(*wait), sqsloop.WithPollerLogger(log))
	run := p.Run
	if *drain {
		run = p.Drain
	}
	st, err := run(ctx)
	if jerr := c.json(st); jerr != nil && err == nil {
		err = jerr
	}
	return err
}
