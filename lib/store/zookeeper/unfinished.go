package zookeeper

import (
	"context"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Unfinished lists unfinished bubble-downs (see store.Backend). This
// backend still makes each bubble-down one atomic step, so there are none.
func (b *Backend) Unfinished(ctx context.Context, idle time.Duration, n int) ([]store.Ref, error) {
	return nil, nil
}

// Resume finishes an unfinished bubble-down (see store.Backend): there
// are none yet in this backend.
func (b *Backend) Resume(ctx context.Context, parent store.Ref, children []store.Child) error {
	return nil
}
