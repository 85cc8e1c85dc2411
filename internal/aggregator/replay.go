package aggregator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Replay limits.
const (
	// ReplayBatchSize is how many events Replay hands the store at once.
	ReplayBatchSize = 1000
	// ReplayBatchTimeout bounds one batch, so that a stuck call cannot hang a
	// backfill.
	ReplayBatchTimeout = 2 * time.Minute
)

// ReplaySummary is what a replay came to.
type ReplaySummary struct {
	// Input is "sqs" for SQS events, "jsonl" for JSON lines.
	Input string `json:"input"`
	Summary
}

// ReplayOption configures Replay.
type ReplayOption func(*replayer)

// WithSource names the input of JSON lines (default "stdin"): it is part of
// each line's identity, so that the same purchase on the same line of two
// different inputs counts twice, and the same input replayed counts once.
func WithSource(name string) ReplayOption { return func(r *replayer) { r.source = name } }

// WithKeyField takes each JSON line's identity from its field name (a string
// or a number, a valid idempotency key) instead of its source, line number
// and content: a purchase carrying the same key on two lines, in any input,
// counts once.
func WithKeyField(name string) ReplayOption { return func(r *replayer) { r.keyField = name } }

type replayer struct {
	h        *Handler
	problems io.Writer
	source   string
	keyField string
}

// item is one event of the input and where it came from.
type item struct {
	msg     events.SQSMessage
	where   string // "line 3" or "record 2 (message <id>)"
	problem string // why the line cannot be an event, "" if it can
}

// Replay reads in, which holds either SQS events ({"Records": [...]}, one or
// more, read as Lambda would receive them) or JSON lines of purchase events,
// told apart by the first JSON value. It processes them with h in batches of
// ReplayBatchSize, writes each invalid or failed event to problems with where
// it is in the input, and returns the summary. The error is an input that
// cannot be read, or a failure no retry fixes (e.g. a missing table).
//
// Identities (what exactly-once counting keys on): an SQS record keeps its
// idempotencyKey attribute, else its messageId. A JSON line is identified by
// a hash of the source name (WithSource), its line number and its content,
// or by its key field (WithKeyField). Replaying the same input under the same
// source therefore counts nothing twice, while distinct inputs never share
// identities.
func Replay(ctx context.Context, h *Handler, in io.Reader, problems io.Writer, opts ...ReplayOption) (ReplaySummary, error) {
	r := &replayer{h: h, problems: problems, source: "stdin"}
	for _, o := range opts {
		o(r)
	}
	return r.run(ctx, in)
}

func (r *replayer) run(ctx context.Context, in io.Reader) (ReplaySummary, error) {
	start := time.Now()
	out := ReplaySummary{Input: "jsonl"}
	var fatal error
	batch := make([]item, 0, ReplayBatchSize)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		msgs := make([]events.SQSMessage, 0, len(batch))
		where := make(map[string]string, len(batch))
		for _, it := range batch {
			if it.problem != "" {
				fmt.Fprintf(r.problems, "%s: invalid: %s\n", it.where, it.problem)
				out.Messages++
				out.Invalid++
				continue
			}
			msgs = append(msgs, it.msg)
			where[it.msg.MessageId] = it.where
		}
		bctx, cancel := context.WithTimeout(ctx, ReplayBatchTimeout)
		res := r.h.Process(bctx, msgs)
		cancel()
		if res.Err != nil {
			fmt.Fprintf(r.problems, "%s to %s: not counted: %v\n", batch[0].where, batch[len(batch)-1].where, res.Err)
			fatal = res.Err
		}
		for _, p := range res.InvalidEvents {
			fmt.Fprintf(r.problems, "%s: invalid: %s\n", where[p.MessageID], p.Reason)
		}
		for _, p := range res.FailedMessages {
			fmt.Fprintf(r.problems, "%s: failed: %s\n", where[p.MessageID], p.Reason)
		}
		out.Add(res.Summary)
		batch = batch[:0]
	}
	err := r.read(in, func(kind string, it item) error {
		out.Input = kind
		batch = append(batch, it)
		if len(batch) == cap(batch) {
			flush()
		}
		if fatal != nil {
			return fmt.Errorf("stopped after %s: %w", it.where, fatal)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped after %s: %w", it.where, err)
		}
		return nil
	})
	if err == nil {
		flush()
		err = fatal
	}
	out.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	return out, err
}

// read calls emit for each event of in.
func (r *replayer) read(in io.Reader, emit func(kind string, it item) error) error {
	br := bufio.NewReaderSize(in, 64<<10)
	rec := &recorder{on: true}
	dec := json.NewDecoder(io.TeeReader(br, rec))
	var first json.RawMessage
	if err := dec.Decode(&first); errors.Is(err, io.EOF) {
		return nil // empty input
	} else if err == nil && isSQSEvent(first) {
		rec.on = false
		return readSQSEvents(first, dec, emit)
	}
	// Not an SQS event: read it all again as JSON lines.
	return r.readLines(io.MultiReader(&rec.buf, br), emit)
}

// recorder keeps what the detecting decoder read, so that it can be read again.
type recorder struct {
	buf bytes.Buffer
	on  bool
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.on {
		r.buf.Write(p)
	}
	return len(p), nil
}

// isSQSEvent reports whether raw is an object whose Records is an array.
func isSQSEvent(raw json.RawMessage) bool {
	var probe struct {
		Records json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return false
	}
	return len(probe.Records) > 0 && probe.Records[0] == '['
}

func readSQSEvents(first json.RawMessage, dec *json.Decoder, emit func(string, item) error) error {
	n := 0
	for i := 1; ; i++ {
		var ev events.SQSEvent
		var err error
		if i == 1 {
			err = json.Unmarshal(first, &ev)
		} else if err = dec.Decode(&ev); errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("SQS event %d: %w", i, err)
		}
		for _, msg := range ev.Records {
			n++
			if err := emit("sqs", item{msg: msg, where: "record " + strconv.Itoa(n) + " (message " + msg.MessageId + ")"}); err != nil {
				return err
			}
		}
	}
}

// readLines emits one message per non-blank line, identified as Replay
// describes.
func (r *replayer) readLines(in io.Reader, emit func(string, item) error) error {
	br := bufio.NewReaderSize(in, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimRight(line, "\r\n")
			if len(bytes.TrimSpace(line)) > 0 {
				if err := emit("jsonl", r.lineItem(n, line)); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
}

// lineItem makes line number n into a message. Its id is the hash of the
// source, n and the line; with a key field, the field's value is its
// idempotency key.
func (r *replayer) lineItem(n int, line []byte) item {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(r.source), []byte(strconv.Itoa(n)), line} {
		h.Write([]byte(strconv.Itoa(len(part)) + ":"))
		h.Write(part)
	}
	it := item{
		msg:   events.SQSMessage{MessageId: "line-" + hex.EncodeToString(h.Sum(nil)[:16]), Body: string(line)},
		where: "line " + strconv.Itoa(n),
	}
	if r.keyField == "" {
		return it
	}
	key, err := fieldText(line, r.keyField)
	if err != nil {
		it.problem = err.Error()
		return it
	}
	it.msg.MessageAttributes = map[string]events.SQSMessageAttribute{
		AttrIdempotencyKey: {DataType: "String", StringValue: &key},
	}
	return it
}

// fieldText returns the text of a JSON object's string or number field.
func fieldText(line []byte, field string) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return "", errors.New("not a JSON object, so no key field " + strconv.Quote(field))
	}
	raw, ok := obj[field]
	if !ok || string(raw) == "null" {
		return "", fmt.Errorf("key field %q: is required", field)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var num json.Number
	if err := json.Unmarshal(raw, &num); err == nil {
		return num.String(), nil
	}
	return "", fmt.Errorf("key field %q: must be a string or a number, got %s", field, raw)
}
