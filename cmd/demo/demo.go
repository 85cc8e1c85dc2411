package main

import (
	"context"
	"crypto/md5" //nolint:gosec // G501: SQS's md5OfBody is an MD5 by definition, a checksum, not security
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	miniserver "github.com/truora/minidyn/server"

	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/report"
	"github.com/acmecheckout/reports/internal/simulate"
)

// Exit codes of the demo.
const (
	exitOK     = 0
	exitFailed = 1 // a step failed, or events could not be counted
	exitUsage  = 2 // bad flags
)

// The SQS queue the demo's batches pretend to come from.
const (
	demoRegion   = "us-east-1"
	demoQueueARN = "arn:aws:sqs:us-east-1:123456789012:purchases"
)

// Demo is the demo program, wired from the process by main.
type Demo struct {
	// Stdout receives the reports and the summary; Stderr usage, errors and,
	// with --verbose, the aggregator's JSON logs.
	Stdout, Stderr io.Writer
}

// options are the demo's flags.
type options struct {
	count, invalid, merchants int
	seed                      uint64
	day                       time.Time
	batch, top                int
	table, idempotency        string
	embedded, create, verbose bool
}

func (d *Demo) parse(args []string) (options, error) {
	var o options
	var day string
	var noEmbedded, noCreate bool
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(d.Stderr)
	fs.IntVar(&o.count, "count", 2000, "valid purchases to generate")
	fs.IntVar(&o.invalid, "invalid", 7, "invalid events to mix in")
	fs.IntVar(&o.merchants, "merchants", 50, "distinct merchants (heavy-tailed popularity)")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed gives the same purchases")
	fs.StringVar(&day, "day", simulate.DefaultStart.Format(time.DateOnly), "UTC `day` YYYY-MM-DD of the purchases")
	fs.IntVar(&o.batch, "batch", 10, "SQS batch size, 1 to 10")
	fs.IntVar(&o.top, "top", 10, "rows shown per report, the largest first (0: all)")
	fs.StringVar(&o.table, "table", "demo-datapoints", "datapoints table `name`")
	fs.StringVar(&o.idempotency, "idempotency-table", "demo-idempotency", "idempotency table `name` for exactly-once counting (\"\": plain counting)")
	fs.BoolVar(&noEmbedded, "no-embedded", false, "use the AWS SDK's standard configuration instead of the embedded DynamoDB")
	fs.BoolVar(&noCreate, "no-create", false, "do not create the tables (default: create them if missing)")
	fs.BoolVar(&o.verbose, "verbose", false, "print the aggregator's JSON logs on stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.embedded, o.create = !noEmbedded, !noCreate
	var err error
	if o.day, err = time.Parse(time.DateOnly, day); err != nil {
		return o, fmt.Errorf("--day %q is not a day YYYY-MM-DD", day)
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.count < 0 || o.invalid < 0:
		return o, errors.New("--count and --invalid must not be negative")
	case o.merchants < 1:
		return o, errors.New("--merchants must be at least 1")
	case o.batch < 1 || o.batch > 10:
		return o, errors.New("--batch must be between 1 and 10, as for an SQS event source")
	case o.table == "":
		return o, errors.New("--table must not be empty")
	}
	return o, nil
}

// Run runs the demo with args (without the program name) and returns the
// exit code.
func (d *Demo) Run(ctx context.Context, args []string) int {
	o, err := d.parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(d.Stderr, "demo: %v\n", err)
		return exitUsage
	}
	if err := d.run(ctx, o); err != nil {
		fmt.Fprintf(d.Stderr, "demo: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func (d *Demo) run(ctx context.Context, o options) error {
	log := slog.New(slog.DiscardHandler)
	if o.verbose {
		log = slog.New(slog.NewJSONHandler(d.Stderr, nil))
	}
	client, where, stop, err := dynamoClient(ctx, o.embedded)
	if err != nil {
		return err
	}
	defer stop()
	if o.create {
		if err := dynamo.CreateTables(ctx, client, o.table, o.idempotency); err != nil {
			return fmt.Errorf("create tables: %w", err)
		}
	}
	storeOpts := []dynamo.Option{dynamo.WithLogger(log)}
	mode := "plain counting (at least once)"
	if o.idempotency != "" {
		storeOpts = append(storeOpts, dynamo.WithIdempotencyTable(o.idempotency))
		mode = "exactly-once counting"
	}
	store := dynamo.New(client, o.table, storeOpts...)
	handler := aggregator.New(store, aggregator.WithLogger(log))

	msgs, err := simulate.Generate(simulate.Config{Seed: o.seed, Count: o.count, Invalid: o.invalid, Merchants: o.merchants, Start: o.day, Days: 1})
	if err != nil {
		return fmt.Errorf("generate purchases: %w", err)
	}
	fmt.Fprintf(d.Stdout, "Demo: %d purchases and %d invalid events on %s from %d merchants (seed %d),\nin SQS batches of %d through the aggregator into %s, %s.\n\n",
		o.count, o.invalid, o.day.Format(time.DateOnly), o.merchants, o.seed, o.batch, where, mode)

	start := time.Now()
	fed, err := feed(ctx, handler, msgs, o.batch, o.seed)
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	d.printRejected(fed)
	if o.embedded {
		if err := repairMinidynIndex(ctx, client, o.table); err != nil {
			return err
		}
	}

	day := o.day.Format(time.DateOnly)
	for _, r := range purchase.Reports() {
		rday := ""
		if r.Daily() {
			rday = day
		}
		counts, err := store.List(ctx, r, rday)
		if err != nil {
			return fmt.Errorf("list %s: %w", r, err)
		}
		scope := "all time"
		if rday != "" {
			scope = rday
		}
		fmt.Fprintf(d.Stdout, "%s (%s): %d datapoints, %d events\n", r, scope, len(counts), report.Total(counts))
		if err := report.WriteTable(d.Stdout, report.ByEvents(counts), o.top); err != nil {
			return err
		}
		fmt.Fprintln(d.Stdout)
	}
	d.printSummary(fed, elapsed)
	if fed.Failed > 0 {
		return fmt.Errorf("%d events could not be counted", fed.Failed)
	}
	return nil
}

// dynamoClient returns a DynamoDB client: on an embedded minidyn server, or
// from the SDK's standard configuration. where names it for people; stop
// shuts the embedded server down.
func dynamoClient(ctx context.Context, embedded bool) (c *dynamodb.Client, where string, stop func(), err error) {
	if !embedded {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, "", nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		return dynamodb.NewFromConfig(cfg), "DynamoDB (AWS SDK standard configuration)", func() {}, nil
	}
	srv := httptest.NewServer(miniserver.NewServer())
	cfg := aws.Config{
		Region:      demoRegion,
		Credentials: credentials.NewStaticCredentialsProvider("demo", "demo", ""),
	}
	c = dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(srv.URL) // what AWS_ENDPOINT_URL_DYNAMODB sets
		o.DisableValidateResponseChecksum = true
	})
	return c, "an embedded DynamoDB (minidyn)", srv.Close, nil
}

// repairMinidynIndex works around a bug of minidyn v0.8.2: an item created
// by UpdateItem replaces another item's entry in a global secondary index
// instead of adding its own, so listing a report by its index misses
// datapoints. Putting every item back after deleting them all rebuilds the
// index through PutItem, which maintains it correctly. DynamoDB needs no
// such thing, so this runs on the embedded server only.
func repairMinidynIndex(ctx context.Context, c *dynamodb.Client, table string) error {
	var items []map[string]types.AttributeValue
	pages := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("rebuild index: scan %s: %w", table, err)
		}
		items = append(items, page.Items...)
	}
	for _, item := range items {
		key := map[string]types.AttributeValue{dynamo.AttrDatapoint: item[dynamo.AttrDatapoint]}
		if _, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key}); err != nil {
			return fmt.Errorf("rebuild index: delete: %w", err)
		}
	}
	for _, item := range items {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			return fmt.Errorf("rebuild index: put: %w", err)
		}
	}
	return nil
}

// rejection is one message the aggregator did not count.
type rejection struct {
	line   int // 1-based position in the generated day
	reason string
}

// fedResult is what feeding the day through the handler came to.
type fedResult struct {
	aggregator.Summary
	batches      int
	itemFailures int
	rejected     []rejection
}

// feed hands msgs to the aggregator handler in batches shaped as Lambda's
// SQS event source delivers them.
func feed(ctx context.Context, h *aggregator.Handler, msgs []simulate.Message, size int, seed uint64) (fedResult, error) {
	var res fedResult
	rng := rand.New(rand.NewPCG(seed, 0xd3_0e)) //nolint:gosec // G404: seeded on purpose, so that a seed replays the same demo
	sent := time.Now()
	for first := 0; first < len(msgs); first += size {
		batch := msgs[first:min(first+size, len(msgs))]
		ev := events.SQSEvent{Records: make([]events.SQSMessage, len(batch))}
		line := make(map[string]int, len(batch))
		for i, m := range batch {
			ev.Records[i] = sqsRecord(rng, m.Body, sent)
			line[ev.Records[i].MessageId] = first + i + 1
		}
		out := h.Process(ctx, ev.Records)
		if out.Err != nil {
			return res, fmt.Errorf("batch of lines %d-%d: %w", first+1, first+len(batch), out.Err)
		}
		res.Add(out.Summary)
		res.batches++
		res.itemFailures += len(aggregator.Response(out).BatchItemFailures)
		for _, p := range out.InvalidEvents {
			res.rejected = append(res.rejected, rejection{line[p.MessageID], p.Reason})
		}
		for _, p := range out.FailedMessages {
			res.rejected = append(res.rejected, rejection{line[p.MessageID], "not counted: " + p.Reason})
		}
	}
	return res, nil
}

// sqsRecord shapes a body as a record of Lambda's SQS event.
func sqsRecord(rng *rand.Rand, body []byte, sent time.Time) events.SQSMessage {
	sum := md5.Sum(body) //nolint:gosec // G401: SQS's md5OfBody, a checksum
	id := uuid(rng)
	ms := strconv.FormatInt(sent.UnixMilli(), 10)
	return events.SQSMessage{
		MessageId:     id,
		ReceiptHandle: "AQEB" + strings.ReplaceAll(id, "-", "") + uuid(rng)[:8],
		Body:          string(body),
		Md5OfBody:     hex.EncodeToString(sum[:]),
		Attributes: map[string]string{
			"ApproximateReceiveCount":          "1",
			"SentTimestamp":                    ms,
			"SenderId":                         "AROAIWPX5BD2BHG722MW4:checkout",
			"ApproximateFirstReceiveTimestamp": ms,
		},
		MessageAttributes: map[string]events.SQSMessageAttribute{},
		EventSource:       "aws:sqs",
		EventSourceARN:    demoQueueARN,
		AWSRegion:         demoRegion,
	}
}

// uuid returns a version 4 UUID drawn from rng.
func uuid(rng *rand.Rand) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:8], rng.Uint64())
	binary.LittleEndian.PutUint64(b[8:16], rng.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (d *Demo) printRejected(fed fedResult) {
	if len(fed.rejected) == 0 {
		return
	}
	fmt.Fprintf(d.Stdout, "Rejected %d events, not counted (%d batch item failures: in AWS the queue's redrive policy moves them to the DLQ):\n",
		len(fed.rejected), fed.itemFailures)
	for _, r := range fed.rejected {
		fmt.Fprintf(d.Stdout, "  event %-6d %s\n", r.line, r.reason)
	}
	fmt.Fprintln(d.Stdout)
}

func (d *Demo) printSummary(fed fedResult, elapsed time.Duration) {
	fmt.Fprintln(d.Stdout, "Summary")
	rows := []struct {
		name  string
		value string
	}{
		{"events", strconv.Itoa(fed.Messages)},
		{"valid", strconv.Itoa(fed.Valid)},
		{"invalid", strconv.Itoa(fed.Invalid)},
		{"counted", strconv.Itoa(fed.Counted)},
		{"duplicates", strconv.Itoa(fed.Duplicates)},
		{"failed", strconv.Itoa(fed.Failed)},
		{"datapoint updates", strconv.Itoa(fed.Datapoints)},
		{"transactions", strconv.Itoa(fed.Transactions)},
		{"request retries", strconv.Itoa(fed.RequestRetries)},
		{"conflict retries", strconv.Itoa(fed.ConflictRetries)},
		{"batches", strconv.Itoa(fed.batches)},
		{"elapsed", elapsed.Round(time.Millisecond).String()},
		{"events/s", strconv.FormatFloat(float64(fed.Messages)/max(elapsed.Seconds(), 1e-9), 'f', 0, 64)},
	}
	for _, r := range rows {
		fmt.Fprintf(d.Stdout, "  %-18s %10s\n", r.name, r.value)
	}
}
