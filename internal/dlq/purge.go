package dlq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/acmecheckout/reports/internal/sqs"
)

// PurgeSummary says what a purge did.
type PurgeSummary struct {
	// Read is the number of distinct messages read.
	Read int `json:"read"`
	// Matched is the number older than the cut-off.
	Matched int `json:"matched"`
	// Deleted is the number deleted.
	Deleted int `json:"deleted"`
	// Failed is the number matched and not deleted.
	Failed int `json:"failed"`
	// Truncated is true when reading stopped at the tool's bound.
	Truncated bool `json:"truncated,omitempty"`
}

// Purge deletes the messages of dlqURL first sent more than olderThan ago and
// leaves the others.
func (t *Tool) Purge(ctx context.Context, dlqURL string, olderThan time.Duration) (PurgeSummary, error) {
	var sum PurgeSummary
	if olderThan <= 0 {
		return sum, fmt.Errorf("purge wants a positive age, got %s", olderThan)
	}
	if err := t.CheckQueue(ctx, dlqURL); err != nil {
		return sum, err
	}
	r := t.newReader(dlqURL)
	var errs []error
	for {
		batch, err := r.next(ctx)
		if err != nil {
			errs = append(errs, err)
			break
		}
		if len(batch) == 0 {
			break
		}
		now := time.Now()
		var old []Message
		for _, m := range batch {
			if m.Age(now) > olderThan {
				old = append(old, m)
			}
		}
		sum.Matched += len(old)
		for len(old) > 0 {
			n := min(len(old), sqs.MaxBatchEntries)
			failed := r.deleteMessages(ctx, old[:n])
			sum.Deleted += n - len(failed)
			sum.Failed += len(failed)
			for _, err := range failed {
				errs = append(errs, err)
			}
			old = old[n:]
		}
		fmt.Fprintf(t.progress, "dlq purge: read %d, older than %s %d, deleted %d, failed %d\n", r.read, olderThan, sum.Matched, sum.Deleted, sum.Failed)
	}
	sum.Read, sum.Truncated = r.read, r.truncated
	errs = append(errs, r.release(ctx))
	return sum, errors.Join(errs...)
}
