package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/report"
)

// Exit codes of the command.
const (
	exitOK       = 0
	exitFailed   = 1 // the datapoint does not exist, the table could not be read, or parts are left
	exitUsage    = 2 // bad arguments or configuration
	usageSummary = `usage:
  reports [flags] get DATAPOINT
  reports [flags] list REPORT [--day YYYY-MM-DD]
  reports [flags] fold     (move every pending part into its main item now; prints a JSON summary)

reports: hour-bracket, hour-bracket-method, day-merchant (daily: --day required),
         bracket-method, merchant-method (all time)
flags:`
)

// CLI is the reports command, wired from the process by main.
type CLI struct {
	// Getenv reads the environment (os.Getenv); TABLE_NAME is the default table.
	Getenv func(string) string
	// Stdout receives the counts, Stderr usage and errors.
	Stdout, Stderr io.Writer
}

// Run runs the command with args (without the program name) and returns the
// exit code.
func (c *CLI) Run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("reports", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	table := fs.String("table", c.Getenv("TABLE_NAME"), "datapoints table `name` (default $TABLE_NAME)")
	format := fs.String("format", string(report.JSON), "output `format`: json, csv or table")
	day := fs.String("day", "", "UTC `day` YYYY-MM-DD of a daily report")
	fs.Usage = func() {
		fmt.Fprintln(c.Stderr, usageSummary)
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(c.Stderr, "reports: "+format+"\n", a...)
		fs.Usage()
		return exitUsage
	}
	f, err := report.ParseFormat(*format)
	if err != nil {
		return usage("%v", err)
	}
	if *table == "" {
		return usage("no table: set --table or TABLE_NAME")
	}
	if len(pos) == 1 && pos[0] == "fold" {
		if *day != "" {
			return usage("--day applies to list only")
		}
		store, err := newStore(ctx, *table, slog.New(slog.NewJSONHandler(c.Stderr, nil)))
		if err != nil {
			fmt.Fprintf(c.Stderr, "reports: %v\n", err)
			return exitUsage
		}
		return c.fold(ctx, store)
	}
	if len(pos) != 2 {
		return usage("want a command and one argument, got %q", pos)
	}

	var query func(purchase.Reader) ([]purchase.Total, error)
	switch cmd, arg := pos[0], pos[1]; cmd {
	case "get":
		if *day != "" {
			return usage("--day applies to list only")
		}
		query = func(r purchase.Reader) ([]purchase.Total, error) {
			n, err := r.Get(ctx, arg)
			return []purchase.Total{n}, err
		}
	case "list":
		// The store checks the report and the day (one place); its
		// refusal is a usage error here.
		rep := purchase.Report(arg)
		query = func(r purchase.Reader) ([]purchase.Total, error) { return r.List(ctx, rep, *day) }
	default:
		return usage("unknown command %q", cmd)
	}

	store, err := newStore(ctx, *table, slog.New(slog.NewJSONHandler(c.Stderr, nil)))
	if err != nil {
		fmt.Fprintf(c.Stderr, "reports: %v\n", err)
		return exitUsage
	}
	counts, err := query(store)
	if bad := (*dynamo.BadListingError)(nil); errors.As(err, &bad) {
		return usage("%v", err)
	}
	if err != nil {
		fmt.Fprintf(c.Stderr, "reports: %v\n", err)
		return exitFailed
	}
	if err := report.Write(c.Stdout, f, counts); err != nil {
		fmt.Fprintf(c.Stderr, "reports: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// fold settles the table now: every pending part moves into its main item
// (SPEC §3). It prints the summary as one JSON object, and fails when a part
// is left (a writer kept changing it; run it again).
func (c *CLI) fold(ctx context.Context, store *dynamo.Store) int {
	res, err := store.Fold(ctx)
	if err != nil {
		fmt.Fprintf(c.Stderr, "reports: fold: %v\n", err)
		return exitFailed
	}
	if err := json.NewEncoder(c.Stdout).Encode(res); err != nil {
		fmt.Fprintf(c.Stderr, "reports: %v\n", err)
		return exitFailed
	}
	if res.Left > 0 {
		fmt.Fprintf(c.Stderr, "reports: fold: %d parts left pending; run it again\n", res.Left)
		return exitFailed
	}
	return exitOK
}

// newStore builds the DynamoDB store from the SDK's standard configuration.
func newStore(ctx context.Context, table string, log *slog.Logger) (*dynamo.Store, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return dynamo.New(dynamodb.NewFromConfig(cfg), table, dynamo.WithLogger(log)), nil
}

// parseInterleaved parses flags given before, between or after the
// positional arguments and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
