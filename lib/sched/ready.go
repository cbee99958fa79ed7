package sched

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/store"
)

// NotYet is what NotReady did with a job whose readiness check said
// "not yet".
type NotYet struct {
	Since time.Time     // the first "not yet" of the run
	Poll  time.Duration // the job is checked again after this (not TimedOut)
	// TimedOut: the app's ready_timeout has passed since Since; the job
	// failed, with the outcome Outcome.
	TimedOut bool
	Outcome  string
}

// NotReady records that the readiness check (ready_cmd) of the job of app
// a held under l said "not yet" at now. The job is queued again, checked
// after ready_poll, with no attempt counted (store.Backend.Defer) and the
// outcome "waiting for readiness since T", T being the first "not yet" of
// the run (read from the job: the store keeps it across workers and
// crashes); once ready_timeout has passed since T, the job fails, as an
// attempt, with the outcome "not ready after D" (D the ready_timeout).
// The job's outcome is read under the lease, which only this worker can
// change.
func (s *Sched) NotReady(ctx context.Context, a *config.App, l store.Lease, now time.Time) (NotYet, error) {
	j, err := s.Get(ctx, l.Ref)
	if err != nil {
		return NotYet{}, err
	}
	w := NotYet{Since: now, Poll: a.Exec.ReadyPoll}
	if t, ok := store.WaitingSince(j.Outcome); ok {
		w.Since = t
	}
	if now.Sub(w.Since) >= a.Exec.ReadyTimeout {
		w.TimedOut, w.Outcome = true, "not ready after "+ShortDuration(a.Exec.ReadyTimeout)
		_, err = s.b.Fail(ctx, l, w.Outcome, 1, 0)
		return w, err
	}
	w.Outcome = store.WaitingOutcome(w.Since)
	return w, s.b.Defer(ctx, l, w.Outcome, w.Poll)
}

// ShortDuration writes d as time.Duration does, without a trailing zero
// unit: 6h, 1h30m, 90s is 1m30s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// waitingWhy is stolos-state's detail of a queued job waiting for
// readiness, "" for any other.
func waitingWhy(j store.Job, now time.Time) string {
	since, ok := store.WaitingSince(j.Outcome)
	if !ok || !j.Queued || j.Claimed(now) {
		return ""
	}
	s := fmt.Sprintf("waiting for readiness since %s", since.UTC().Format(time.RFC3339))
	if j.NotBefore.After(now) {
		s += fmt.Sprintf(", next check at %s", j.NotBefore.UTC().Format(time.RFC3339))
	}
	return s
}
