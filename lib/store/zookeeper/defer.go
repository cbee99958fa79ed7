package zookeeper

import (
	"context"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Defer puts a claimed job back on its queue without counting an attempt
// (see store.Backend).
func (b *Backend) Defer(ctx context.Context, l store.Lease, outcome string, delay time.Duration) error {
	return b.update(ctx, "defer "+l.Ref.String(), func(t *txn) error {
		t.cachedLease(l)
		x, err := t.held(l)
		if err != nil {
			return err
		}
		d := x.cur
		d.clearLease()
		if l.Seq > 0 && l.Seq == d.Try {
			d.Try-- // nothing ran: the number is given back
		}
		d.Outcome = outcome
		return t.requeue(x, d, delay)
	})
}
