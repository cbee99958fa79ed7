package local

import (
	"context"
	"fmt"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Defer puts a claimed job back on its queue without counting an attempt
// (see store.Backend).
func (b *Backend) Defer(ctx context.Context, l store.Lease, outcome string, delay time.Duration) error {
	err := b.write(ctx, func(tx *txn) error {
		r, err := tx.held(l)
		if err != nil {
			return err
		}
		clearLease(&r)
		dequeue(&r)
		if l.Seq > 0 && l.Seq == r.tries {
			r.tries-- // nothing ran: the number is given back
		}
		r.outcome = outcome
		return tx.requeue(&r, delay)
	})
	if err != nil {
		return fmt.Errorf("defer %v: %w", l.Ref, err)
	}
	return nil
}
