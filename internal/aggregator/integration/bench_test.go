package integration_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/acmecheckout/reports/internal/aggregator"
	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/testenv"
)

// BenchmarkProcess measures one SQS batch through the handler into the real
// store on DynamoDB Local, per mode and batch size.
func BenchmarkProcess(b *testing.B) {
	testenv.DynamoDBLocal(b)
	ddb := dynamodb.NewFromConfig(mustAWS(b))
	for _, exactlyOnce := range []bool{false, true} {
		for _, size := range []int{10, 100} {
			b.Run(fmt.Sprintf("exactlyOnce=%t/batch=%d", exactlyOnce, size), func(b *testing.B) {
				table, idem := testenv.Tables(b, ddb, exactlyOnce)
				h := aggregator.New(dynamo.New(ddb, table, dynamo.WithIdempotencyTable(idem), dynamo.WithLogger(slog.New(slog.DiscardHandler))),
					aggregator.WithLogger(slog.New(slog.DiscardHandler)))
				batches := generate(b, b.N*size, size) // fresh message ids: no duplicates
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if res := h.Process(context.Background(), batches[i].Records); res.Err != nil || res.Failed > 0 {
						b.Fatalf("batch %d: %+v", i, res.Summary)
					}
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
