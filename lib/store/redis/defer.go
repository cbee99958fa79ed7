package redis

import (
	"context"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Defer puts a claimed job back on its queue without counting an attempt
// (see store.Backend): the fail script, told so.
func (b *Backend) Defer(ctx context.Context, l store.Lease, outcome string, delay time.Duration) error {
	_, err := b.run(ctx, b.s.fail, l.Ref, l.App, l.JobID, l.Token, outcome, "0", micros(delay), seqArg(l.Seq), "", "1")
	return err
}
