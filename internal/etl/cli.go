package etl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// usage is the command's help text.
const usage = `usage:
  etl run [--job NAME]... [--start YYYY-MM-DD] [--end YYYY-MM-DD]
      load the jobs (default: all) over the window (default: the last 7 days
      ending today UTC, real estate 90); windows longer than a year are loaded
      a year at a time. Progress goes to stderr, the JSON summary to stdout.
  etl migrate
      bring the warehouse schema up to date.
jobs: currency, economics, equities, interest_rates, real_estate
configuration: see the environment variables in the README (QUANDL_API_KEY,
DATABASE_URL, SECRETS_PLAINTEXT=true for plaintext secrets, ...).
`

// ErrUsage is returned for a malformed command line, after printing usage.
var ErrUsage = errors.New("usage")

// CLI is the etl command outside Lambda.
type CLI struct {
	App    *App
	Stdout io.Writer
	Stderr io.Writer
}

// Run runs the command args (without the program name). It returns an
// error when the command line is malformed, the run could not start or any
// dataset failed.
func (c *CLI) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.Stderr, usage)
		return ErrUsage
	}
	switch args[0] {
	case "run":
		return c.run(ctx, args[1:])
	case "migrate":
		if len(args) > 1 {
			fmt.Fprint(c.Stderr, usage)
			return ErrUsage
		}
		if err := c.App.Migrate(ctx); err != nil {
			return err
		}
		fmt.Fprintln(c.Stderr, "warehouse migrated")
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(c.Stdout, usage)
		return nil
	}
	fmt.Fprintf(c.Stderr, "unknown command %q\n%s", args[0], usage)
	return ErrUsage
}

func (c *CLI) run(ctx context.Context, args []string) error {
	var in Input
	fs := flag.NewFlagSet("etl run", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() { fmt.Fprint(c.Stderr, usage) }
	fs.Func("job", "a job to run (repeatable; default all)", func(s string) error {
		in.Jobs = append(in.Jobs, s)
		return nil
	})
	fs.StringVar(&in.StartDate, "start", "", "first date, YYYY-MM-DD")
	fs.StringVar(&in.EndDate, "end", "", "last date, YYYY-MM-DD (default today UTC)")
	if err := fs.Parse(args); err != nil {
		return ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.Stderr, "unexpected arguments %q\n%s", strings.Join(fs.Args(), " "), usage)
		return ErrUsage
	}
	windows, err := Plan(in, c.App.today())
	if err != nil {
		return err
	}
	sum, err := c.App.Run(ctx, windows)
	if len(sum.Jobs) > 0 {
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(sum); werr != nil && err == nil {
			err = fmt.Errorf("write summary: %w", werr)
		}
	}
	return err
}
