package bench_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/bench"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/simulate"
)

// handlerBatch is one SQS event of 10,000 messages (Lambda's largest batch)
// of the seeded workload's shape.
var handlerBatch = simulate.Config{Count: 10_000, Days: 3, Merchants: 300, Seed: 7}

// instantCounter is a store that returns at once: what is left is the
// handler's own work.
type instantCounter struct{}

func (instantCounter) Add(context.Context, []purchase.Delivery) (purchase.AddResult, error) {
	return purchase.AddResult{}, nil
}

// BenchmarkHandlerCPU runs the whole handler on one 10,000-message SQS event
// and reports the process CPU time (user + system, getrusage) per batch,
// which includes the store's goroutines and the GC. No I/O happens:
//
//   - no-io: the store returns at once (instantCounter), leaving parse,
//     validation, bucketing and the handler's bookkeeping, summary log and
//     EMF metrics;
//   - sdk-plain, sdk-exactly-once: the real dynamo.Store and SDK client
//     (request building, serialization, signing, retries bookkeeping),
//     with every HTTP request answered in process;
//   - event-decode: aws-lambda-go's decoding of the event's JSON, which
//     happens before the handler.
//
// "naive" is bench.NaiveHandler on the same event: encoding/json, fmt keys,
// and one write per datapoint per event (or one transaction per event).
func BenchmarkHandlerCPU(b *testing.B) {
	msgs, err := simulate.Generate(handlerBatch)
	if err != nil {
		b.Fatal(err)
	}
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		bodies[i] = m.Body
	}
	ev := bench.SQSEvent(bodies)
	ctx := context.Background()
	client := mustInstantClient(b)
	quiet := slog.New(slog.DiscardHandler)
	handler := func(c purchase.Counter) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return aggregator.New(c, aggregator.WithLogger(quiet), aggregator.WithMetrics(io.Discard, "aggregator")).Handle
	}
	naive := func(idempotency string) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return bench.NaiveHandler{Write: bench.NewNaiveWriter(client, "datapoints", idempotency).Write}.Handle
	}
	cases := []struct {
		name   string
		handle func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)
	}{
		{"no-io/ours", handler(instantCounter{})},
		{"no-io/naive", bench.NaiveHandler{Write: func(context.Context, string, [5]purchase.Datapoint) error { return nil }}.Handle},
		{"sdk-plain/ours", handler(dynamo.New(client, "datapoints", dynamo.WithLogger(quiet)))},
		{"sdk-plain/naive", naive("")},
		{"sdk-exactly-once/ours", handler(dynamo.New(client, "datapoints", dynamo.WithIdempotencyTable("idempotency"), dynamo.WithLogger(quiet)))},
		{"sdk-exactly-once/naive", naive("idempotency")},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			measureCPU(b, func() {
				resp, err := tc.handle(ctx, ev)
				if err != nil || len(resp.BatchItemFailures) > 0 {
					b.Fatalf("handle: %v, %d failures", err, len(resp.BatchItemFailures))
				}
			})
		})
	}

	b.Run("event-decode", func(b *testing.B) {
		payload, err := json.Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		measureCPU(b, func() {
			var got events.SQSEvent
			if err := json.Unmarshal(payload, &got); err != nil || len(got.Records) != len(bodies) {
				b.Fatalf("decode: %v", err)
			}
		})
	})
}

// measureCPU runs fn b.N times and reports the process CPU time per run in
// milliseconds (cpu-ms/batch), with allocations.
func measureCPU(b *testing.B, fn func()) {
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	for range b.N {
		fn()
	}
	cpu := cpuTime(b) - start
	b.StopTimer()
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/batch")
}
