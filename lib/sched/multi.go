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

// claims returns what a claim across the apps takes of each
// (store.ClaimRequest.Apps), in round-robin order from a.next: the
// backend gives ties of priority to the earlier.
func (a *Apps) claims() []store.AppClaim {
	n := len(a.Names)
	out := make([]store.AppClaim, n)
	for k := range n {
		name := a.Names[(a.next+k)%n]
		out[k] = store.AppClaim{App: name, MaxRetry: a.MaxRetry(name)}
	}
	return out
}

// ClaimAny claims one runnable job of any of apps, in one backend step
// (a claim across apps, store.ClaimRequest.Apps): from the app whose
// queue's head has the best priority, and among apps of equal priority
// from the one after the app it last claimed from (round robin), so that
// one app's deep queue does not starve another's; an app whose claim
// yields nothing (its head was stale, a limit is full) gives way to the
// next. It takes req's Owner, Lease and Transferable; App, N and MaxRetry
// are each app's. With a completion c, it records c in the same backend
// step (as CompleteClaim), and calls recorded. With wait > 0 it waits up
// to wait for work in any of the apps. It returns the number of jobs
// handed to got: 0 or 1.
func (s *Sched) ClaimAny(ctx context.Context, apps *Apps, c *Completion, recorded func(error), req store.ClaimRequest, wait time.Duration, got func(store.Lease) error, parked func(Parked)) (int, error) {
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
	take := func(l store.Lease) error {
		apps.next = (slices.Index(apps.Names, l.App) + 1) % len(apps.Names)
		return got(l)
	}
	for {
		moved = false
		completing := c != nil
		r := req
		r.N, r.Apps = 1, apps.claims()
		var next nextClaim
		n, err := s.claim(ctx, c, recorded, r, 0, take, report, &next)
		c = nil
		if err != nil || n > 0 {
			return n, err
		}
		until := deadline // or sooner: when a lease or retry delay ends
		if !next.at.IsZero() && next.at.Before(until) {
			until = next.at
		}
		switch {
		case ctx.Err() != nil:
			return 0, nil
		case moved || completing:
			// The completion recorded with the claim may have queued
			// children that the claim did not see (on ZooKeeper, where
			// the heads come first): look again.
			continue
		case next.limited && s.WaitSlots:
			// A full limit holds jobs back: look again soon.
			until = time.Now().Add(SlotPoll)
		case wait <= 0 || !time.Now().Before(deadline):
			return 0, nil
		case next.limited && time.Now().Add(SlotPoll).Before(until):
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

// wait waits until the queue of req's app (or of any of its apps) may
// have changed, or until, or ctx ends.
func (s *Sched) wait(ctx context.Context, req store.ClaimRequest, until time.Time) error {
	if len(req.Apps) == 0 {
		return s.b.Wait(ctx, req.App, until)
	}
	names := make([]string, len(req.Apps))
	for i, a := range req.Apps {
		names[i] = a.App
	}
	return s.waitAny(ctx, names, until)
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
