package store

import (
	"cmp"
	"context"
	"slices"
)

// Head is what Backend.Heads reads of the head of one app's queue: a
// hint for choosing which app to claim from, which the Claim checks.
type Head struct {
	// Ready: the queue has an entry that a Claim would take now, as far
	// as the backend's read tells: an app whose queue has a claimable
	// entry is Ready, but a Ready one may have none (a stale entry of a
	// job no longer pending, one a per-app limit holds back; on
	// ZooKeeper, a priority whose entries are all claimed or gone).
	Ready bool
	// Priority is the priority of that entry, when Ready: at most that
	// of the first claimable entry (lower when the hint is stale).
	Priority int
}

// Hints reports whether head is a valid hint for a queue whose first
// claimable entry is want (Ready false: none): an exact answer, or a
// stale one that names a better priority (see Head).
func (head Head) Hints(want Head) bool {
	return head == want || head.Ready && (!want.Ready || head.Priority < want.Priority)
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

// Order returns the indexes of the heads that are Ready, best first: by
// priority, ties in the order of heads.
func Order(heads []Head) []int {
	var out []int
	for i, h := range heads {
		if h.Ready {
			out = append(out, i)
		}
	}
	slices.SortStableFunc(out, func(x, y int) int { return cmp.Compare(heads[x].Priority, heads[y].Priority) })
	return out
}

// ClaimInOrder is a claim across apps (ClaimRequest.Apps), given the heads
// of their queues: claim (the claim of one app) of each app in Order until
// one takes or fails a job. Its result has the earliest Next and the
// first Limited of the apps tried.
func ClaimInOrder(req ClaimRequest, heads []Head, claim func(ClaimRequest) (ClaimResult, error)) (ClaimResult, error) {
	var res ClaimResult
	for _, i := range Order(heads) {
		got, err := claim(req.For(i))
		if err != nil {
			return ClaimResult{}, err
		}
		if !got.Next.IsZero() && (res.Next.IsZero() || got.Next.Before(res.Next)) {
			res.Next = got.Next
		}
		if res.Limited == "" {
			res.Limited = got.Limited
		}
		if len(got.Leases) > 0 || len(got.Failed) > 0 {
			got.Next, got.Limited = res.Next, res.Limited
			return got, nil
		}
	}
	return res, nil
}
