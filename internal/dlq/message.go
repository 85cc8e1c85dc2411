package dlq

import (
	"encoding/base64"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acmecheckout/reports/internal/sqs"
)

// Message is a message on the dead-letter queue.
type Message struct {
	// ID is the message's own SQS message id.
	ID string `json:"id"`
	// Identity is what the event was or would be counted under: the
	// message attribute idempotencyKey, else sourceMessageId, else ID.
	Identity string `json:"identity"`
	// Reason is the message attribute error: why the aggregator rejected
	// the event. It is "" for a message the queue's redrive policy moved
	// here after too many failed receives.
	Reason string `json:"reason"`
	// Attributes are the message attributes, by name: string and number
	// values as they are, binary values in base64.
	Attributes map[string]string `json:"attributes"`
	// Body is the message body, unchanged.
	Body string `json:"body"`
	// SentAt is when the message was first sent (SQS's SentTimestamp).
	SentAt time.Time `json:"sentAt"`
	// ReceiveCount is SQS's ApproximateReceiveCount, this tool's receive
	// included.
	ReceiveCount int `json:"receiveCount"`
	// Group is the message group on a FIFO queue, "" otherwise.
	Group string `json:"group,omitempty"`

	receipt string
	raw     map[string]types.MessageAttributeValue
}

// MovedByRedrivePolicy reports whether the queue's redrive policy, not the
// aggregator, put the message here: it then carries no reason.
func (m Message) MovedByRedrivePolicy() bool {
	_, ok := m.Attributes[sqs.AttrError]
	return !ok
}

// Age is how long ago the message was first sent.
func (m Message) Age(now time.Time) time.Duration {
	if m.SentAt.IsZero() {
		return 0
	}
	return now.Sub(m.SentAt)
}

// newMessage converts a received SQS message.
func newMessage(m types.Message) Message {
	out := Message{
		ID:         aws.ToString(m.MessageId),
		Body:       aws.ToString(m.Body),
		Attributes: make(map[string]string, len(m.MessageAttributes)),
		Group:      m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)],
		receipt:    aws.ToString(m.ReceiptHandle),
		raw:        m.MessageAttributes,
	}
	for name, a := range m.MessageAttributes {
		if a.BinaryValue != nil {
			out.Attributes[name] = base64.StdEncoding.EncodeToString(a.BinaryValue)
		} else {
			out.Attributes[name] = aws.ToString(a.StringValue)
		}
	}
	out.Reason = out.Attributes[sqs.AttrError]
	switch {
	case out.Attributes[sqs.AttrIdempotencyKey] != "":
		out.Identity = out.Attributes[sqs.AttrIdempotencyKey]
	case out.Attributes[sqs.AttrSourceMessageID] != "":
		out.Identity = out.Attributes[sqs.AttrSourceMessageID]
	default:
		out.Identity = out.ID
	}
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		out.SentAt = time.UnixMilli(ms).UTC()
	}
	out.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	return out
}

// redriveAttributes are the message attributes a message goes back to the
// queue with: its own, without the dead-letter ones (error and
// sourceMessageId), with idempotencyKey set to its identity.
func (m Message) redriveAttributes() map[string]types.MessageAttributeValue {
	out := make(map[string]types.MessageAttributeValue, len(m.raw)+1)
	for name, v := range m.raw {
		if name != sqs.AttrError && name != sqs.AttrSourceMessageID {
			out[name] = v
		}
	}
	out[sqs.AttrIdempotencyKey] = sqs.StringAttribute(m.Identity)
	return out
}

// size is what the redriven message counts against SendMessageBatch's limit.
func (m Message) size() int {
	n := len(m.Body)
	for name, v := range m.redriveAttributes() {
		n += sqs.AttributeSize(name, v)
	}
	return n
}
