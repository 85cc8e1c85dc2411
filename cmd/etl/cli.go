package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/acmecheckout/reports/internal/etl"
	"github.com/acmecheckout/reports/internal/lake"
	"github.com/acmecheckout/reports/internal/markets"
	"github.com/acmecheckout/reports/internal/secrets"
)

// usage is the command's help text.
const usage = `usage:
  etl run [--catalog FILE] [--lake s3://BUCKET/PREFIX] [--job NAME]...
          [--start YYYY-MM-DD] [--end YYYY-MM-DD]
      load the catalog's series of the jobs (default: all) up to --end (default
      today UTC) into the warehouse (DATABASE_URL) and/or the lake (LAKE_URL, or
      --lake): from --start, or else each series from its newest stored date
      minus 7 days (a series never loaded: the last 7 days, real estate 90).
      Windows longer than a year are loaded a year at a time. Progress goes to
      stderr, the JSON summary to stdout; exit 1 if a series failed, was retired
      or was not found (stale series are reported, not failures).
  etl catalog check [--format table|json|csv] [--job NAME]... [--start YYYY-MM-DD]
                    [--end YYYY-MM-DD] [FILE]
      validate a catalog (FILE, default ETL_CATALOG or the embedded one) and
      print its series with the window a run would load; every problem is
      listed, naming the entry and the field. Needs no other setting.
  etl migrate
      bring the warehouse schema up to date.
  etl lake check [--format table|json|csv] [--lake s3://BUCKET/PREFIX]
      list every object of the lake (default LAKE_URL) with its row count and
      what of it does not follow the layout; exit 1 if any does not.
  etl help
      print this help.
jobs: currency, economics, equities, interest_rates, real_estate
configuration: the environment variables in the README (ETL_CATALOG,
QUANDL_API_KEY, FRED_API_KEY, DATABASE_URL, LAKE_URL, SECRETS_PLAINTEXT=true
for plaintext secrets, ...).
`

// errUsage reports a malformed command line, after printing why and usage.
var errUsage = errors.New("usage")

// errHelp reports that help was asked for.
var errHelp = errors.New("help")

// cli is the etl command outside Lambda. It parses the command line before
// anything else, so help and usage errors need no configuration, and
// validates the input before the configuration.
type cli struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	logger *slog.Logger
}

// run runs args and returns the exit code.
func (c *cli) run(ctx context.Context, args []string) int {
	err := c.dispatch(ctx, args)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		fmt.Fprint(c.stdout, usage)
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	}
	fmt.Fprintln(c.stderr, "etl:", err)
	return exitError
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return c.usageError("")
	}
	switch args[0] {
	case "run":
		return c.runJobs(ctx, args[1:])
	case "catalog":
		if len(args) < 2 || args[1] != "check" {
			if len(args) >= 2 && isHelp(args[1]) {
				return errHelp
			}
			return c.usageError("want: etl catalog check [FILE]")
		}
		return c.checkCatalog(args[2:])
	case "lake":
		if len(args) < 2 || args[1] != "check" {
			if len(args) >= 2 && isHelp(args[1]) {
				return errHelp
			}
			return c.usageError("want: etl lake check")
		}
		return c.checkLake(ctx, args[2:])
	case "migrate":
		if _, err := c.parse(flag.NewFlagSet("etl migrate", flag.ContinueOnError), args[1:], 0); err != nil {
			return err
		}
		return c.migrate(ctx)
	}
	if isHelp(args[0]) {
		return errHelp
	}
	return c.usageError(fmt.Sprintf("unknown command %q", args[0]))
}

func isHelp(s string) bool { return s == "help" || s == "-h" || s == "-help" || s == "--help" }

// windowFlags adds --job, --start and --end to fs, filling in.
func windowFlags(fs *flag.FlagSet, in *etl.Input) {
	fs.Func("job", "a job to run (repeatable; default all)", func(s string) error {
		in.Jobs = append(in.Jobs, s)
		return nil
	})
	fs.StringVar(&in.StartDate, "start", "", "first date, YYYY-MM-DD (default: incremental)")
	fs.StringVar(&in.EndDate, "end", "", "last date, YYYY-MM-DD (default today UTC)")
}

// today is the current UTC date.
func today() markets.Date { return markets.DateOf(time.Now().UTC()) }

func (c *cli) runJobs(ctx context.Context, args []string) error {
	var in etl.Input
	var catalogFile, lakeURL string
	fs := flag.NewFlagSet("etl run", flag.ContinueOnError)
	fs.StringVar(&catalogFile, "catalog", "", "catalog file (default ETL_CATALOG, or the embedded one)")
	fs.StringVar(&lakeURL, "lake", "", "the lake, s3://BUCKET/PREFIX (default LAKE_URL)")
	windowFlags(fs, &in)
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	// Validate the input before the configuration: a typo in a flag value
	// is reported as such, even in a shell without the settings.
	windows, err := etl.Plan(in, today())
	if err != nil {
		return err
	}
	getenv := c.getenv
	if lakeURL != "" {
		getenv = func(k string) string {
			if k == envLakeURL {
				return lakeURL
			}
			return c.getenv(k)
		}
	}
	w, err := newWiring(getenv, catalogFile, c.logger)
	if err != nil {
		return err
	}
	cfg, err := w.appConfig(ctx, nil)
	if err != nil {
		return err
	}
	app, err := etl.NewApp(cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	sum, err := app.Run(ctx, windows)
	if len(sum.Jobs) > 0 {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(sum); werr != nil && err == nil {
			err = fmt.Errorf("write summary: %w", werr)
		}
	}
	return err
}

func (c *cli) checkCatalog(args []string) error {
	var in etl.Input
	format := etl.FormatTable
	fs := flag.NewFlagSet("etl catalog check", flag.ContinueOnError)
	fs.StringVar(&format, "format", format, "table, json or csv")
	windowFlags(fs, &in)
	rest, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	if format != etl.FormatTable && format != etl.FormatJSON && format != etl.FormatCSV {
		return c.usageError(fmt.Sprintf("--format %q: want table, json or csv", format))
	}
	windows, err := etl.Plan(in, today())
	if err != nil {
		return err
	}
	path, setting := catalogPath(c.getenv), envCatalog
	if len(rest) == 1 {
		path, setting = rest[0], "catalog"
	}
	cat, err := loadCatalog(path, setting)
	if err != nil {
		return err
	}
	if err := etl.WriteCatalog(c.stdout, format, etl.CatalogRows(cat, windows)); err != nil {
		return err
	}
	name := path
	if name == "" {
		name = "the embedded catalog"
	}
	var counts []string
	for _, s := range markets.Sources() {
		if n := cat.Count(s); n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, s))
		}
	}
	fmt.Fprintf(c.stderr, "%s: valid, %d series (%s)\n", name, len(cat.Series), strings.Join(counts, ", "))
	return nil
}

// checkLake checks the lake --lake or LAKE_URL names (lake.RunCheck).
func (c *cli) checkLake(ctx context.Context, args []string) error {
	format, lakeURL := lake.FormatTable, ""
	fs := flag.NewFlagSet("etl lake check", flag.ContinueOnError)
	fs.StringVar(&format, "format", format, "table, json or csv")
	fs.StringVar(&lakeURL, "lake", "", "the lake, s3://BUCKET/PREFIX (default LAKE_URL)")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if lakeURL == "" {
		lakeURL = c.getenv(envLakeURL)
	}
	if lakeURL == "" {
		return fmt.Errorf("%s is not set: name the lake with it or --lake", envLakeURL)
	}
	return lake.RunCheck(ctx, lakeURL, format, c.stdout, c.stderr, lake.WithLogger(c.logger))
}

// migrate opens the warehouse DATABASE_URL names and migrates it.
func (c *cli) migrate(ctx context.Context) error {
	if _, err := loadConfig(c.getenv); err != nil {
		return err
	}
	if c.getenv(envDatabaseURL) == "" {
		return fmt.Errorf("%s is not set: there is no warehouse to migrate", envDatabaseURL)
	}
	dec, err := secrets.FromEnv(ctx, c.getenv)
	if err != nil {
		return err
	}
	wh, err := openWarehouse(ctx, secrets.NewCache(dec, c.getenv), c.logger)
	if err != nil {
		return err
	}
	wh.Close()
	fmt.Fprintln(c.stderr, "warehouse migrated")
	return nil
}

// parse parses a command's flags, allowing at most maxArgs arguments after
// them, and returns those. It returns errHelp for -h or --help and, after
// printing why and the usage, errUsage for a bad flag or a stray argument.
func (c *cli) parse(fs *flag.FlagSet, args []string, maxArgs int) ([]string, error) {
	fs.SetOutput(c.stderr) // the flag package prints a bad flag's error
	fs.Usage = func() {}   // usage is printed by run or usageError
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, errHelp
	case err != nil:
		return nil, c.usageError("")
	case fs.NArg() > maxArgs:
		return nil, c.usageError(fmt.Sprintf("unexpected arguments %q", strings.Join(fs.Args()[maxArgs:], " ")))
	}
	return fs.Args(), nil
}

// usageError prints why (if any) and the usage to stderr and returns errUsage.
func (c *cli) usageError(why string) error {
	if why != "" {
		fmt.Fprintln(c.stderr, why)
	}
	fmt.Fprint(c.stderr, usage)
	return errUsage
}
