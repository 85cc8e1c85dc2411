package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acmecheckout/reports/internal/dlq"
)

// Exit codes of the command.
const (
	exitOK     = 0
	exitFailed = 1 // SQS failed, or a message was not redriven or purged
	exitUsage  = 2 // bad arguments or configuration
)

const usage = `usage:
  dlq list    --dlq URL [--reason REGEX] [--format table|json|csv] [--max N]
  dlq redrive --dlq URL --queue URL [--reason REGEX] [--limit N] [--dry-run] [--max N]
  dlq export  --dlq URL [--reason REGEX] [--max N]
  dlq purge   --dlq URL --older-than DURATION --yes [--max N]
--dlq defaults to $DLQ_URL, --queue to $QUEUE_URL. Run "dlq COMMAND --help" for a command's flags.`

// errUsage marks an error the user fixes by changing the arguments.
var errUsage = errors.New("usage")

// dispatch runs the subcommand args name (args without the program name),
// reading the environment with getenv, writing results to stdout and usage
// and progress to stderr.
func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	c := command{getenv: getenv, stdout: stdout, stderr: stderr}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "list":
		return c.list(ctx, rest)
	case "redrive":
		return c.redrive(ctx, rest)
	case "export":
		return c.export(ctx, rest)
	case "purge":
		return c.purge(ctx, rest)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
}

// command holds what every subcommand reads and writes.
type command struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// common are the flags every subcommand has.
type common struct {
	fs     *flag.FlagSet
	dlqURL *string
	reason *string
	max    *int
}

func (c command) flags(name, doc string, withReason bool) common {
	fs := flag.NewFlagSet("dlq "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage of dlq %s: %s\n", name, doc)
		fs.PrintDefaults()
	}
	f := common{fs: fs}
	f.dlqURL = fs.String("dlq", c.getenv("DLQ_URL"), "dead-letter queue `URL` (default $DLQ_URL)")
	if withReason {
		f.reason = fs.String("reason", "", "only messages whose reason matches this `REGEX` (RE2); '^$' selects those the redrive policy moved, which have none")
	}
	f.max = fs.Int("max", dlq.DefaultMaxMessages, "read at most `N` messages of the dead-letter queue")
	return f
}

// parse parses args and checks the dead-letter queue URL and the selection.
func (f common) parse(args []string) (dlq.Select, error) {
	var sel dlq.Select
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return sel, err
		}
		return sel, fmt.Errorf("%w: %w", errUsage, err)
	}
	if f.fs.NArg() > 0 {
		return sel, fmt.Errorf("%w: %s takes no arguments, got %q", errUsage, f.fs.Name(), f.fs.Args())
	}
	if *f.dlqURL == "" {
		return sel, fmt.Errorf("%w: no dead-letter queue: set --dlq or DLQ_URL", errUsage)
	}
	if err := dlq.CheckQueueURL(*f.dlqURL); err != nil {
		return sel, fmt.Errorf("%w: --dlq %w", errUsage, err)
	}
	if *f.max < 1 {
		return sel, fmt.Errorf("%w: --max must be at least 1", errUsage)
	}
	if f.reason != nil && *f.reason != "" {
		re, err := regexp.Compile(*f.reason)
		if err != nil {
			return sel, fmt.Errorf("%w: --reason: %w", errUsage, err)
		}
		sel.Reason = re
	}
	return sel, nil
}

// tool builds the SQS client from the SDK's standard configuration.
func (c command) tool(ctx context.Context, f common) (*dlq.Tool, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return dlq.New(awssqs.NewFromConfig(cfg), dlq.WithProgress(c.stderr), dlq.WithMaxMessages(*f.max)), nil
}

func (c command) warnTruncated(st dlq.ReadStats) {
	if st.Truncated {
		fmt.Fprintf(c.stderr, "dlq: stopped after %d messages (--max); the queue may hold more\n", st.Read)
	}
}

func (c command) list(ctx context.Context, args []string) error {
	f := c.flags("list", "the messages of the dead-letter queue, with age, receive count, reason, identity and a body preview; they stay on the queue", true)
	format := f.fs.String("format", dlq.FormatTable, "output `format`: table, json (one object a line) or csv")
	sel, err := f.parse(args)
	if err != nil {
		return err
	}
	if *format != dlq.FormatTable && *format != dlq.FormatJSON && *format != dlq.FormatCSV {
		return fmt.Errorf("%w: --format %q: want table, json or csv", errUsage, *format)
	}
	t, err := c.tool(ctx, f)
	if err != nil {
		return err
	}
	msgs, st, err := t.List(ctx, *f.dlqURL, sel)
	if err != nil {
		return err
	}
	c.warnTruncated(st)
	return dlq.WriteList(c.stdout, *format, msgs, time.Now())
}

func (c command) export(ctx context.Context, args []string) error {
	f := c.flags("export", "the messages of the dead-letter queue as JSON lines (id, identity, reason, attributes, body), to fix by hand and publish again; they stay on the queue", true)
	sel, err := f.parse(args)
	if err != nil {
		return err
	}
	t, err := c.tool(ctx, f)
	if err != nil {
		return err
	}
	msgs, st, err := t.List(ctx, *f.dlqURL, sel)
	if err != nil {
		return err
	}
	c.warnTruncated(st)
	return dlq.WriteExport(c.stdout, msgs)
}

func (c command) redrive(ctx context.Context, args []string) error {
	f := c.flags("redrive", "send messages back to the queue under their identity (attribute idempotencyKey), deleting each from the dead-letter queue once sent; progress on stderr, a JSON summary on stdout", true)
	queue := f.fs.String("queue", c.getenv("QUEUE_URL"), "queue `URL` to send the messages back to (default $QUEUE_URL)")
	limit := f.fs.Int("limit", 0, "redrive at most `N` messages (0: all)")
	dryRun := f.fs.Bool("dry-run", false, "say what would be sent; send and delete nothing")
	sel, err := f.parse(args)
	if err != nil {
		return err
	}
	switch {
	case *queue == "":
		return fmt.Errorf("%w: no queue to send back to: set --queue or QUEUE_URL", errUsage)
	case *limit < 0:
		return fmt.Errorf("%w: --limit must be 0 (all) or more", errUsage)
	}
	if err := dlq.CheckQueueURL(*queue); err != nil {
		return fmt.Errorf("%w: --queue %w", errUsage, err)
	}
	if *queue == *f.dlqURL {
		return fmt.Errorf("%w: --queue and --dlq are the same queue", errUsage)
	}
	sel.Limit = *limit
	t, err := c.tool(ctx, f)
	if err != nil {
		return err
	}
	sum, err := t.Redrive(ctx, *f.dlqURL, *queue, sel, *dryRun)
	if sum.Truncated {
		c.warnTruncated(dlq.ReadStats{Read: sum.Read, Truncated: true})
	}
	return errors.Join(err, c.json(sum))
}

func (c command) purge(ctx context.Context, args []string) error {
	f := c.flags("purge", "delete the messages of the dead-letter queue first sent longer ago than --older-than; the others stay", false)
	olderThan := f.fs.Duration("older-than", 0, "delete messages older than this `duration` (e.g. 72h)")
	yes := f.fs.Bool("yes", false, "really delete (required)")
	if _, err := f.parse(args); err != nil {
		return err
	}
	switch {
	case *olderThan <= 0:
		return fmt.Errorf("%w: --older-than must be a positive duration, e.g. 72h", errUsage)
	case !*yes:
		return fmt.Errorf("%w: purge deletes messages for good: add --yes (see them first with dlq list)", errUsage)
	}
	t, err := c.tool(ctx, f)
	if err != nil {
		return err
	}
	sum, err := t.Purge(ctx, *f.dlqURL, *olderThan)
	if sum.Truncated {
		c.warnTruncated(dlq.ReadStats{Read: sum.Read, Truncated: true})
	}
	return errors.Join(err, c.json(sum))
}

func (c command) json(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}
