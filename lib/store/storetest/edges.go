package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// testLeaseOfAbsent: every change that names a lease fails with
// ErrLeaseLost when its job does not exist (its data was lost, say), as
// when the lease ended; only what names no lease says ErrNotFound.
func (s suite) testLeaseOfAbsent(t *testing.T) {
	b, _ := s.open(t)
	c := ctx(t)
	l := store.Lease{Ref: ref("g", "1"), Token: "t", Owner: "w", Until: time.Now().Add(time.Minute)}
	second := func(_ any, err error) error { return err }
	for _, lost := range []struct {
		op  string
		err error
	}{
		{"held", b.Held(c, l)},
		{"renew", second(b.Renew(c, l, longLease))},
		{"release", b.Release(c, l)},
		{"complete", b.Complete(c, l, "exit 0", nil)},
		{"fail", second(b.Fail(c, l, "exit 1", 3, 0))},
		{"defer", b.Defer(c, l, "not yet", 0)},
		{"park", second(b.Park(c, l, []store.Ref{ref("p", "1")}, []store.Node{node("p", "1")}))},
	} {
		if !errors.Is(lost.err, store.ErrLeaseLost) {
			t.Errorf("%s of an absent job: %v, want %v", lost.op, lost.err, store.ErrLeaseLost)
		}
	}
	wantNotFound(t, "complete without a lease", b.Complete(c, store.Lease{Ref: l.Ref}, "exit 0", nil))
	wantNotFound(t, "set state", b.SetState(c, l.Ref, store.Failed, ""))
	checkJobs(t, b, map[store.Ref]view{l.Ref: {}, ref("p", "1"): {}})
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s of an absent job: %v, want %v", what, err, store.ErrNotFound)
	}
}

// testEmpty: calls that name nothing do nothing and succeed: Submit and
// Get of no jobs return no results, and an app that never had a job has
// zero counts, no jobs to list and none to claim.
func (s suite) testEmpty(t *testing.T) {
	b, _ := s.open(t)
	c := ctx(t)
	if res, err := b.Submit(c, nil); len(res) != 0 || err != nil {
		t.Errorf("submit of no items: %v, %v; want no results", res, err)
	}
	if jobs, err := b.Get(c, nil); len(jobs) != 0 || err != nil {
		t.Errorf("get of no refs: %v, %v; want no jobs", jobs, err)
	}
	cn, err := b.Count(c, "none")
	if err != nil || len(cn.States) != 0 || cn.Queued != 0 || cn.Claimed != 0 || cn.HeadAge != 0 {
		t.Errorf("count of an app with no jobs: %+v, %v; want zero", cn, err)
	}
	n := 0
	if err := b.List(c, "none", store.Absent, func(store.Job) error { n++; return nil }); n != 0 || err != nil {
		t.Errorf("list of an app with no jobs: %d jobs, %v", n, err)
	}
	res, err := b.Claim(c, claimReq("none", "w1", 3, longLease))
	if err != nil || len(res.Leases) != 0 || len(res.Failed) != 0 || !res.Next.IsZero() {
		t.Errorf("claim of an app with no jobs: %+v, %v; want nothing", res, err)
	}
	if refs, err := b.Unfinished(c, 0, 5); len(refs) != 0 || err != nil {
		t.Errorf("unfinished with no bubble-down: %v, %v", refs, err)
	}
	if err := b.Resume(c, ref("none", "1"), nil); err != nil {
		t.Errorf("resume without a marker: %v", err)
	}
}
