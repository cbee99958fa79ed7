package sched

import (
	"context"
	"slices"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Apps is a set of apps that a worker claims from together (ClaimAny),
// and where its round robin stands.
type Apps struct {
	Names []string
	// MaxRetry gives each app's ClaimRequest.MaxRetry.
	MaxRetry func(app string) int
	next     int // the index of the app that comes first among equals
}

// order returns the indexes of the apps whose queue has a head, best
// first: by priority, and among equal priorities in round-robin order
// from a.next.
func (a *Apps) order(heads []store.Head) []int {
	var out []int
	for i, h := range heads {
		if h.Ready {
			out = append(out, i)
		}
	}
	n := len(a.Names)
	slices.SortStableFunc(out, func(x, y int) int {
		if p, q := heads[x].Priority, heads[y].Priority; p != q {
			return p - q
		}
		return (x-a.next+n)%n - (y-a.next+n)%n
	})
	return out
}

// ClaimAny claims one runnable job of any of apps: from the app whose
// queue's head has the best priority (Backend.Heads), and among apps of
// equal priority from the one after the app it last claimed from (round
// robin), so that one app's deep queue does not starve another's. An app
// whose claim yields nothing (its head was stale, or another worker took
// it) gives way to the next. It takes req's Owner, Lease and
// Transferable; App, N and MaxRetry are each app's. With a completion c,
// it records c in the same backend step as the first claim (as
// CompleteClaim), and calls recorded. With wait > 0 it waits up to wait
// for work in any of the apps. It returns the number of jobs handed to
// got: 0 or 1.
func (s *Sched) ClaimAny(ctx context.Context, apps *Apps, c *Completion, recorded func(error), req store.ClaimRequest, wait time.Duration, got func(store.Lease) error, parked func(Parked)) (int, error) {
	defer func() { // a completion no claim took along
		if c != nil {
			recorded(s.Complete(context.WithoutCancel(ctx), c.Lease, c.Outcome))
		}
	}()
	deadline := time.Now().Add(wait)
	// A claim that parks jobs (bubble-up) queues their missing ancestors,
	// maybe in other apps: the queues are read again before giving up.
	moved := false
	report := func(p Parked) {
		moved = true
		if parked != nil {
			parked(p)
		}
	}
	for {
		moved = false
		limited := false
		until := deadline // or sooner: when a lease or retry delay ends
		heads, err := s.b.Heads(ctx, apps.Names)
		if err != nil {
			return 0, err
		}
		order := apps.order(heads)
		if len(order) == 0 && c != nil {
			// Nothing to take the completion along: record it, and look
			// again at the queues, where it may have put children.
			recorded(s.Complete(context.WithoutCancel(ctx), c.Lease, c.Outcome))
			c = nil
			continue
		}
		for _, i := range order {
			r := req
			r.App, r.N, r.MaxRetry = apps.Names[i], 1, apps.MaxRetry(apps.Names[i])
			var next nextClaim
			n, err := s.claim(ctx, c, recorded, r, 0, got, report, &next)
			c = nil
			if !next.at.IsZero() && next.at.Before(until) {
				until = next.at
			}
			limited = limited || next.limited
			if err != nil || n > 0 {
				if n > 0 {
					apps.next = (i + 1) % len(apps.Names)
				}
				return n, err
			}
		}
		switch {
		case ctx.Err() != nil:
			return 0, nil
		case moved:
			continue
		case limited && s.WaitSlots:
			// A full limit holds jobs back: look again soon.
			until = time.Now().Add(SlotPoll)
		case wait <= 0 || !time.Now().Before(deadline):
			return 0, nil
		case limited && time.Now().Add(SlotPoll).Before(until):
			until = time.Now().Add(SlotPoll)
		}
		if err := s.waitAny(ctx, apps.Names, until); err != nil {
			if ctx.Err() != nil {
				return 0, nil
			}
			return 0, err
		}
	}
}

// waitAny waits until the queue of any of apps may have changed
// (Backend.Wait on each, at once), or until, or ctx ends.
func (s *Sched) waitAny(ctx context.Context, apps []string, until time.Time) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(apps))
	for _, a := range apps {
		go func() { errs <- s.b.Wait(ctx, a, until) }()
	}
	err := <-errs // the first to return ends the others
	cancel()
	for range len(apps) - 1 {
		<-errs
	}
	return err
}
