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
  etl help
      print this help.
jobs: currency, economics, equities, interest_rates, real_estate
configuration: see the environment variables in the README (QUANDL_API_KEY,
DATABASE_URL, SECRETS_PLAINTEXT=true for plaintext secrets, ...).
`

// ErrUsage is returned for a malformed command line, after printing usage.
var ErrUsage = errors.New("usage")

// errHelp reports that help was asked for and printed.
var errHelp = errors.New("help")

// CLI is the etl command outside Lambda. It parses the command line before
// anything else, so help and usage errors need no configuration; the App is
// built from Deps (reading the configuration and secrets settings) only for
// a command that runs.
type CLI struct {
	Deps   Deps
	Stdout io.Writer
	Stderr io.Writer
}

// Run runs the command args (without the program name). Help (help, -h,
// --help, also after a command) prints usage to Stdout and returns nil; a
// malformed command line prints usage to Stderr and returns ErrUsage.
// Otherwise it returns an error when the configuration or the input is
// invalid, the run could not start or any dataset failed.
func (c *CLI) Run(ctx context.Context, args []string) error {
	err := c.dispatch(ctx, args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(c.Stdout, usage)
		return nil
	}
	return err
}

func (c *CLI) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return c.usageError("")
	}
	switch args[0] {
	case "run":
		return c.run(ctx, args[1:])
	case "migrate":
		if err := c.parse(flag.NewFlagSet("etl migrate", flag.ContinueOnError), args[1:]); err != nil {
			return err
		}
		app, err := NewApp(ctx, c.Deps)
		if err != nil {
			return err
		}
		defer app.Close()
		if err := app.Migrate(ctx); err != nil {
			return err
		}
		fmt.Fprintln(c.Stderr, "warehouse migrated")
		return nil
	case "help", "-h", "-help", "--help":
		return errHelp
	}
	return c.usageError(fmt.Sprintf("unknown command %q", args[0]))
}

func (c *CLI) run(ctx context.Context, args []string) error {
	var in Input
	fs := flag.NewFlagSet("etl run", flag.ContinueOnError)
	fs.Func("job", "a job to run (repeatable; default all)", func(s string) error {
		in.Jobs = append(in.Jobs, s)
		return nil
	})
	fs.StringVar(&in.StartDate, "start", "", "first date, YYYY-MM-DD")
	fs.StringVar(&in.EndDate, "end", "", "last date, YYYY-MM-DD (default today UTC)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	// Validate the input before the configuration: a typo in a flag value
	// is reported as such, even in a shell without the settings.
	windows, err := Plan(in, c.Deps.today())
	if err != nil {
		return err
	}
	app, err := NewApp(ctx, c.Deps)
	if err != nil {
		return err
	}
	defer app.Close()
	sum, err := app.Run(ctx, windows)
	if len(sum.Jobs) > 0 {
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(sum); werr != nil && err == nil {
			err = fmt.Errorf("write summary: %w", werr)
		}
	}
	return err
}

// parse parses a command's flags; it returns errHelp for -h or --help and,
// after printing why and the usage, ErrUsage for a bad flag or a stray
// argument.
func (c *CLI) parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(c.Stderr) // the flag package prints a bad flag's error
	fs.Usage = func() {}   // usage is printed by Run or usageError
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return errHelp
	case err != nil:
		return c.usageError("")
	case fs.NArg() > 0:
		return c.usageError(fmt.Sprintf("unexpected arguments %q", strings.Join(fs.Args(), " ")))
	}
	return nil
}

// usageError prints why (if any) and the usage to Stderr and returns ErrUsage.
func (c *CLI) usageError(why string) error {
	if why != "" {
		fmt.Fprintln(c.Stderr, why)
	}
	fmt.Fprint(c.Stderr, usage)
	return ErrUsage
}
