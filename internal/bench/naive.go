package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acmecheckout/reports/internal/dynamo"
	"github.com/acmecheckout/reports/internal/purchase"
)

// The naive design is the original one every figure is compared with: each
// body decoded with encoding/json into a struct, the date parsed with
// time.Parse, the merchant id checked with a regular expression, the five
// datapoint keys built with fmt.Sprintf, and one DynamoDB write per datapoint
// per event (plain), or one transaction per event (its marker and its five
// ADDs) for exactly once. It follows SPEC §1 and §2 like the real code, so
// that both count the same thing.

// uuidPattern is the merchant id rule of SPEC §1.
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// naiveBody is the event as the original design decoded it.
type naiveBody struct {
	Date          *string      `json:"date"`
	Amount        *json.Number `json:"amount"`
	PaymentMethod *string      `json:"paymentMethod"`
	MerchantID    *string      `json:"merchantId"`
}

// NaiveParse validates a purchase event body the original way and returns
// its five datapoints, in the order of purchase.Reports().
func NaiveParse(body []byte) ([5]purchase.Datapoint, error) {
	var in naiveBody
	if err := json.Unmarshal(body, &in); err != nil {
		return [5]purchase.Datapoint{}, fmt.Errorf("invalid event: %w", err)
	}
	if in.Date == nil || in.Amount == nil || in.PaymentMethod == nil || in.MerchantID == nil {
		return [5]purchase.Datapoint{}, errors.New("invalid event: a field is missing")
	}
	t, err := time.Parse(time.RFC3339Nano, *in.Date)
	if err != nil {
		return [5]purchase.Datapoint{}, fmt.Errorf("invalid date: %w", err)
	}
	amount, err := strconv.ParseInt(in.Amount.String(), 10, 64)
	if err != nil || amount < 0 || amount > purchase.MaxAmount {
		return [5]purchase.Datapoint{}, fmt.Errorf("invalid amount %s", in.Amount)
	}
	switch purchase.Method(*in.PaymentMethod) {
	case purchase.PayNow, purchase.PayLater, purchase.SliceIt:
	default:
		return [5]purchase.Datapoint{}, fmt.Errorf("invalid paymentMethod %q", *in.PaymentMethod)
	}
	if !uuidPattern.MatchString(*in.MerchantID) {
		return [5]purchase.Datapoint{}, fmt.Errorf("invalid merchantId %q", *in.MerchantID)
	}
	t = t.UTC()
	hour := t.Format("2006-01-02:15")
	day := t.Format("2006-01-02")
	bracket := purchase.Bracket(amount)
	method := *in.PaymentMethod
	merchant := strings.ToLower(*in.MerchantID)
	return [5]purchase.Datapoint{
		{Report: purchase.HourBracket, Key: fmt.Sprintf("%s|%s", hour, bracket)},
		{Report: purchase.HourBracketMethod, Key: fmt.Sprintf("%s|%s|%s", hour, bracket, method)},
		{Report: purchase.BracketMethod, Key: fmt.Sprintf("%s|%s", bracket, method)},
		{Report: purchase.DayMerchant, Key: fmt.Sprintf("%s|%s", day, merchant)},
		{Report: purchase.MerchantMethod, Key: fmt.Sprintf("%s|%s", merchant, method)},
	}, nil
}

// NaiveWriter writes one event's datapoints the original way: one UpdateItem
// per datapoint, or, with an idempotency table, one TransactWriteItems holding
// the message's marker and its five ADDs. It implements purchase.Counter for
// the cost benchmark.
type NaiveWriter struct {
	client      *dynamodb.Client
	table       string
	idempotency string
}

var _ purchase.Counter = (*NaiveWriter)(nil)

// NewNaiveWriter returns a NaiveWriter into table; idempotency "" means plain
// mode.
func NewNaiveWriter(c *dynamodb.Client, table, idempotency string) *NaiveWriter {
	return &NaiveWriter{client: c, table: table, idempotency: idempotency}
}

// Add writes every delivery, one at a time, and stops at the first error.
func (w *NaiveWriter) Add(ctx context.Context, ds []purchase.Delivery) (purchase.AddResult, error) {
	var res purchase.AddResult
	for _, d := range ds {
		if err := w.Write(ctx, d.Identity, d.Event.Datapoints()); err != nil {
			return res, err
		}
		res.Datapoints += 5
	}
	return res, nil
}

// Write adds one to each of an event's datapoints.
func (w *NaiveWriter) Write(ctx context.Context, messageID string, dps [5]purchase.Datapoint) error {
	if w.idempotency == "" {
		for _, dp := range dps {
			if _, err := w.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 aws.String(w.table),
				Key:                       naiveKey(dp),
				UpdateExpression:          aws.String("ADD #events :one SET #report = :report"),
				ExpressionAttributeNames:  naiveNames(),
				ExpressionAttributeValues: naiveValues(dp),
			}); err != nil {
				return fmt.Errorf("add 1 to %s: %w", dp.Key, err)
			}
		}
		return nil
	}
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName:                aws.String(w.idempotency),
		Item:                     map[string]types.AttributeValue{dynamo.AttrID: &types.AttributeValueMemberS{Value: messageID}},
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": dynamo.AttrID},
	}}}
	for _, dp := range dps {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(w.table),
			Key:                       naiveKey(dp),
			UpdateExpression:          aws.String("ADD #events :one SET #report = :report"),
			ExpressionAttributeNames:  naiveNames(),
			ExpressionAttributeValues: naiveValues(dp),
		}})
	}
	if _, err := w.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		return fmt.Errorf("count message %s: %w", messageID, err)
	}
	return nil
}

func naiveKey(dp purchase.Datapoint) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{dynamo.AttrDatapoint: &types.AttributeValueMemberS{Value: dp.Key}}
}

func naiveNames() map[string]string {
	return map[string]string{"#events": dynamo.AttrEvents, "#report": dynamo.AttrReport}
}

func naiveValues(dp purchase.Datapoint) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		":one":    &types.AttributeValueMemberN{Value: "1"},
		":report": &types.AttributeValueMemberS{Value: string(dp.Report)},
	}
}

// NaiveHandler is the original SQS handler: each message parsed with
// NaiveParse and written at once with Write; a message that is invalid or
// fails to write is reported in batchItemFailures.
type NaiveHandler struct {
	// Write adds one to the five datapoints of one message
	// (NaiveWriter.Write, or a stub that returns at once).
	Write func(ctx context.Context, messageID string, dps [5]purchase.Datapoint) error
}

// Handle handles one SQS batch.
func (h NaiveHandler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, m := range ev.Records {
		dps, err := NaiveParse([]byte(m.Body))
		if err == nil {
			err = h.Write(ctx, m.MessageId, dps)
		}
		if err != nil {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}
