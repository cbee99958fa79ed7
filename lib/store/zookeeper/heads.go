package zookeeper

import (
	"context"

	"github.com/stolos-sched/stolos/lib/store"
)

// Heads reads the head of each app's queue (see store.Backend) from the
// listing of its priority nodes that Claim keeps under a child watch
// (cachedChildren): the lowest priority that has a node. It sends a
// request only for a listing whose watch has fired, so a worker over
// several apps pays next to nothing for it; the price is that a priority
// node whose entries are all claimed, or gone since Claim last met it
// (Claim removes empty ones), still counts as a head: the Claim that
// follows finds out, and the worker passes to the next app.
func (b *Backend) Heads(ctx context.Context, apps []string) ([]store.Head, error) {
	out := make([]store.Head, len(apps))
	for i, app := range apps {
		names, err := b.cachedChildren(ctx, b.p.queue(app))
		if err != nil {
			return nil, err
		}
		for _, n := range names { // sorted: prioName sorts as the number does
			if p, err := parsePrio(n); err == nil {
				out[i] = store.Head{Ready: true, Priority: p}
				break
			}
		}
	}
	return out, nil
}
