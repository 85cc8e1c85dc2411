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
	// ReplayBatchSize is how many events the command hands the store at once.
	ReplayBatchSize = 1000
	// ReplayBatchTimeout bounds one batch, so that a stuck call cannot hang a
	// backfill.
	ReplayBatchTimeout = 2 * time.Minute
)

// ReplaySummary is what the command prints on stdout.
type ReplaySummary struct {
	// Input is "sqs" for SQS events, "jsonl" for JSON lines.
	Input string `json:"input"`
	Summary
}

// item is one event of the input and where it came from.
type item struct {
	msg   events.SQSMessage
	where string // "line 3" or "record 2 (message <id>)"
}

// replay reads Stdin, counts it in batches and prints a summary.
func (m *Main) replay(ctx context.Context, h *Handler) int {
	start := time.Now()
	out := ReplaySummary{Input: "jsonl"}
	code := 0
	var fatal error
	batch := make([]item, 0, ReplayBatchSize)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		msgs := make([]events.SQSMessage, len(batch))
		where := make(map[string]string, len(batch))
		for i, it := range batch {
			msgs[i] = it.msg
			where[it.msg.MessageId] = it.where
		}
		bctx, cancel := context.WithTimeout(ctx, ReplayBatchTimeout)
		res := h.Process(bctx, msgs)
		cancel()
		if res.Err != nil {
			fmt.Fprintf(m.Stderr, "%s to %s: not counted: %v\n", batch[0].where, batch[len(batch)-1].where, res.Err)
			fatal = res.Err
		}
		for _, p := range res.InvalidEvents {
			fmt.Fprintf(m.Stderr, "%s: invalid: %s\n", where[p.MessageID], p.Reason)
		}
		for _, p := range res.FailedMessages {
			fmt.Fprintf(m.Stderr, "%s: failed: %s\n", where[p.MessageID], p.Reason)
		}
		out.Add(res.Summary)
		batch = batch[:0]
	}
	err := readInput(m.Stdin, func(kind string, it item) error {
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
	}
	if err != nil {
		fmt.Fprintf(m.Stderr, "%v\n", err)
		code = 2
	}
	out.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	b, _ := json.Marshal(out)
	fmt.Fprintf(m.Stdout, "%s\n", b)
	if code == 0 && (out.Invalid > 0 || out.Failed > 0) {
		code = 1
	}
	return code
}

// readInput calls emit for each event of r, which holds either SQS events
// ({"Records": [...]}, one or more) or JSON lines of purchase events, told
// apart by the first JSON value.
func readInput(r io.Reader, emit func(kind string, it item) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	rec := &recorder{on: true}
	dec := json.NewDecoder(io.TeeReader(br, rec))
	var first json.RawMessage
	if err := dec.Decode(&first); err == io.EOF {
		return nil // empty input
	} else if err == nil && isSQSEvent(first) {
		rec.on = false
		return readSQSEvents(first, dec, emit)
	}
	// Not an SQS event: read it all again as JSON lines.
	return readLines(io.MultiReader(&rec.buf, br), emit)
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
		} else if err = dec.Decode(&ev); err == io.EOF {
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

// readLines emits one message per non-blank line. Its id is derived from the
// line's content and how many identical lines came before it, so that
// replaying the same input again, or a corrected copy of it, carries the same
// ids and with an idempotency table counts nothing twice.
func readLines(r io.Reader, emit func(string, item) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	seen := make(map[[16]byte]int)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimRight(line, "\r\n")
			if len(bytes.TrimSpace(line)) > 0 {
				sum := sha256.Sum256(line)
				var key [16]byte
				copy(key[:], sum[:])
				seen[key]++
				id := "line-" + hex.EncodeToString(key[:]) + "-" + strconv.Itoa(seen[key])
				if err := emit("jsonl", item{msg: events.SQSMessage{MessageId: id, Body: string(line)}, where: "line " + strconv.Itoa(n)}); err != nil {
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
