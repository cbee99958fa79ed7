package zookeeper

import (
	"context"

	"github.com/stolos-sched/stolos/lib/store"
)

// Heads reads the head of each app's queue (see store.Backend) as Claim
// finds it (head: cached upper levels, the priorities listed afresh only
// when the cached ones hold nothing claimable), an app after the other;
// like Claim, it makes an app's nodes the first time it meets the app,
// and removes the empty queue nodes it finds.
func (b *Backend) Heads(ctx context.Context, apps []string) ([]store.Head, error) {
	out := make([]store.Head, len(apps))
	for i, app := range apps {
		if err := b.ensureApp(ctx, app); err != nil {
			return nil, err
		}
		cands, _, err := b.head(ctx, app, b.now(), 1)
		if err != nil {
			return nil, err
		}
		if len(cands) == 0 {
			continue
		}
		e, err := parseEntry(cands[0].q)
		if err != nil {
			return nil, err
		}
		out[i] = store.Head{Ready: true, Priority: e.prio}
	}
	return out, nil
}
