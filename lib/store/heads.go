package store

import "context"

// Head is what Backend.Heads reads of the head of one app's queue.
type Head struct {
	// Ready: the queue has an entry that a Claim would take now, as far
	// as a read can tell (a stale entry of a job that is no longer
	// pending, or one a per-app limit holds back, may be there; the
	// Claim says).
	Ready bool
	// Priority is the priority of that entry, when Ready.
	Priority int
}

// checkHeads checks the apps of Heads.
func checkHeads(apps []string) error {
	for _, a := range apps {
		if err := checkApp(a); err != nil {
			return invalidf("heads: %w", err)
		}
	}
	return nil
}

func (c checked) Heads(ctx context.Context, apps []string) ([]Head, error) {
	if err := checkHeads(apps); err != nil {
		return nil, err
	}
	return c.b.Heads(ctx, apps)
}
