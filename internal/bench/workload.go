package bench

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/acmecheckout/reports/internal/purchase"
	"github.com/acmecheckout/reports/internal/simulate"
)

// Workload is the seeded workload of the cost benchmark: valid purchase
// deliveries from simulate.Generate, each with a distinct message id.
type Workload struct {
	Deliveries []purchase.Delivery
}

// NewWorkload generates cfg's valid purchases as deliveries with message ids
// "<seed>-<index>".
func NewWorkload(cfg simulate.Config) (Workload, error) {
	cfg.Invalid = 0
	msgs, err := simulate.Generate(cfg)
	if err != nil {
		return Workload{}, fmt.Errorf("generate workload: %w", err)
	}
	ds := make([]purchase.Delivery, len(msgs))
	for i, m := range msgs {
		e, err := purchase.Parse(m.Body)
		if err != nil {
			return Workload{}, fmt.Errorf("generated message %d: %w", i, err)
		}
		ds[i] = purchase.Delivery{Identity: fmt.Sprintf("%d-%06d", cfg.Seed, i), Event: e}
	}
	return Workload{Deliveries: ds}, nil
}

// Batches splits the deliveries, in order, into batches of at most size.
func (w Workload) Batches(size int) [][]purchase.Delivery {
	var out [][]purchase.Delivery
	for start := 0; start < len(w.Deliveries); start += size {
		out = append(out, w.Deliveries[start:min(start+size, len(w.Deliveries))])
	}
	return out
}

// Write units DynamoDB charges (items up to 1 KB): a plain write is one, each
// item of a transaction two.
const (
	PlainWriteUnits       = 1
	TransactionWriteUnits = 2
)

// PlainFloor is the fewest write units plain mode can spend on batches: one
// ADD per distinct datapoint per batch.
func PlainFloor(batches [][]purchase.Delivery) int64 {
	var units int64
	for _, batch := range batches {
		units += PlainWriteUnits * int64(distinctDatapoints(batch))
	}
	return units
}

// ExactlyOnceBound is a lower bound on the write units exactly-once mode
// spends on batches: per batch, one transactional marker per message plus one
// transactional ADD per distinct datapoint. It is the floor when each batch
// fits in one transaction. A batch that needs more items than
// dynamo.MaxTransactionItems is split, and a datapoint shared by two of its
// transactions is written in both: TransactionFloor is then the floor.
func ExactlyOnceBound(batches [][]purchase.Delivery) int64 {
	var units int64
	for _, batch := range batches {
		units += TransactionWriteUnits * int64(len(batch)+distinctDatapoints(batch))
	}
	return units
}

// TransactionFloor is the floor of one exactly-once transaction, given the
// JSON body of its TransactWriteItems request: two units per marker (Put) and
// per distinct item it updates.
func TransactionFloor(body []byte) (int64, error) {
	var in struct {
		TransactItems []struct {
			Put    json.RawMessage
			Update *struct {
				TableName string
				Key       json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return 0, fmt.Errorf("decode TransactWriteItems request: %w", err)
	}
	var markers int64
	updated := map[string]bool{}
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			markers++
		case it.Update != nil:
			updated[it.Update.TableName+" "+string(it.Update.Key)] = true
		}
	}
	return TransactionWriteUnits * (markers + int64(len(updated))), nil
}

// NaiveUnits is what the naive design spends on n events: five plain writes
// each, or one transaction of six items (marker and five ADDs) each.
func NaiveUnits(n int, exactlyOnce bool) int64 {
	if exactlyOnce {
		return int64(n) * TransactionWriteUnits * 6
	}
	return int64(n) * PlainWriteUnits * 5
}

func distinctDatapoints(batch []purchase.Delivery) int {
	c := purchase.Increments{}
	for _, d := range batch {
		c.Add(d.Event)
	}
	return len(c)
}

// SQSEvent wraps message bodies as one SQS event, shaped as the Lambda event
// source mapping delivers it.
func SQSEvent(bodies [][]byte) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(bodies))}
	for i, body := range bodies {
		id := fmt.Sprintf("4f8c5a1e-0000-4000-8000-%012d", i)
		ev.Records[i] = events.SQSMessage{
			MessageId:     id,
			ReceiptHandle: "AQEB" + id,
			Body:          string(body),
			Md5OfBody:     "0123456789abcdef0123456789abcdef",
			Attributes: map[string]string{
				"ApproximateReceiveCount":          "1",
				"SentTimestamp":                    "1709251200000",
				"SenderId":                         "AIDAIENQZJOLO23YVJ4VO",
				"ApproximateFirstReceiveTimestamp": "1709251200100",
			},
			MessageAttributes: map[string]events.SQSMessageAttribute{},
			EventSourceARN:    "arn:aws:sqs:us-east-1:123456789012:purchases",
			EventSource:       "aws:sqs",
			AWSRegion:         "us-east-1",
		}
	}
	return ev
}
