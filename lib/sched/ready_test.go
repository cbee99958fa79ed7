package sched

import (
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		6 * time.Hour: "6h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s",
		time.Minute: "1m", time.Millisecond: "1ms", 24*time.Hour + time.Second: "24h0m1s",
	} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestWaitingWhy: stolos-state's detail of a job waiting for readiness,
// and of jobs that are not.
func TestWaitingWhy(t *testing.T) {
	now := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	since := now.Add(-time.Hour)
	waiting := store.WaitingOutcome(since)
	for _, tc := range []struct {
		j    store.Job
		want string
	}{
		{store.Job{Queued: true, Outcome: waiting, NotBefore: now.Add(time.Minute)},
			"waiting for readiness since 2026-12-07T06:00:00Z, next check at 2026-12-07T07:01:00Z"},
		{store.Job{Queued: true, Outcome: waiting, NotBefore: now.Add(-time.Second)},
			"waiting for readiness since 2026-12-07T06:00:00Z"},
		{store.Job{Queued: true, Outcome: waiting, Owner: "w", Until: now.Add(time.Minute)}, ""},
		{store.Job{Queued: false, Outcome: waiting}, ""},
		{store.Job{Queued: true, Outcome: "exit 3"}, ""},
		{store.Job{Queued: true, Outcome: "waiting for readiness since noon"}, ""},
	} {
		if got := waitingWhy(tc.j, now); got != tc.want {
			t.Errorf("waitingWhy(%+v) = %q, want %q", tc.j, got, tc.want)
		}
	}
	if got, ok := store.WaitingSince(waiting); !ok || !got.Equal(since) {
		t.Errorf("WaitingSince(%q) = %v %v, want %v", waiting, got, ok, since)
	}
}
