// Package dlq is the operator's tool for the purchase events' dead-letter
// queue (SPEC §4): it lists the messages there without consuming them, sends
// them back to the purchase queue under the identity they were or would have
// been counted under, exports them for fixing by hand, and deletes old ones.
//
// A message's identity is its message attribute idempotencyKey (set by the
// producer, or by the aggregator when it dead-letters an invalid event), else
// its attribute sourceMessageId, else its own message id, which SQS keeps
// when a queue's redrive policy moves a message. Redrive sends each message
// back with idempotencyKey set to that identity, so the aggregator, in
// exactly-once mode, never counts a purchase it counted before.
//
// Reading a queue receives its messages, which raises their receive counts,
// and keeps them invisible while the tool works (Hold); what the
// tool did not delete it makes visible again when it is done. On a FIFO queue
// a receive returns only the first waiting message of each message group, so
// the tool sees one message per group.
package dlq
