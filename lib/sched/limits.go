package sched

import (
	"context"
	"fmt"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// SlotPoll is how often a waiting claim held back by a full limit
// (max_running, a pool) looks again: nothing wakes it when a job of
// another app of the pool ends.
const SlotPoll = 200 * time.Millisecond

// limits are the store's limits of a claim of app: its max_running and
// its pool (config.Limits).
func (s *Sched) limits(app string) []store.Limit {
	var out []store.Limit
	for _, l := range s.Cfg.Limits(app) {
		out = append(out, store.Limit{Name: l.Name, Max: l.Max, Apps: l.Apps})
	}
	return out
}

// Slots words why a queued job of app that is not claimed waits, when one
// of its limits is full: "waiting for a slot: pool warehouse 4/4
// running"; "" if none is.
//
// It is read once per app and Sched: stolos-state lists many jobs of an
// app, and each would count the limit's apps again.
func (s *Sched) Slots(ctx context.Context, app string) (string, error) {
	s.mu.Lock()
	why, ok := s.slots[app]
	s.mu.Unlock()
	if ok {
		return why, nil
	}
	why, err := s.slotsOf(ctx, app)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.slots == nil {
		s.slots = map[string]string{}
	}
	s.slots[app] = why
	s.mu.Unlock()
	return why, nil
}

func (s *Sched) slotsOf(ctx context.Context, app string) (string, error) {
	for _, l := range s.limits(app) {
		n := 0
		for _, a := range l.Apps {
			c, err := s.b.Count(ctx, a)
			if err != nil {
				return "", err
			}
			n += c.Claimed
		}
		if n >= l.Max {
			return fmt.Sprintf("waiting for a slot: %s %d/%d running", l.Name, n, l.Max), nil
		}
	}
	return "", nil
}
