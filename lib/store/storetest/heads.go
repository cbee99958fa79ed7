package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Heads reads the priority of each queue's first claimable entry, exactly
// for queues of waiting entries and for unknown ones; once entries are
// claimed or completed, a head may be a stale hint (store.Head.Hints):
// never a miss, at worst a better priority than what a Claim finds.
func (s suite) testHeads(t *testing.T) {
	b, _ := s.open(t)
	heads := func(apps ...string) []store.Head {
		t.Helper()
		h, err := b.Heads(ctx(t), apps)
		if err != nil {
			t.Fatalf("heads %v: %v", apps, err)
		}
		return h
	}
	want := func(apps []string, want ...store.Head) {
		t.Helper()
		if got := heads(apps...); !reflect.DeepEqual(got, want) {
			t.Fatalf("heads %v = %+v, want %+v", apps, got, want)
		}
	}
	hint := func(apps []string, want ...store.Head) {
		t.Helper()
		got := heads(apps...)
		for i := range want {
			if !got[i].Hints(want[i]) {
				t.Fatalf("heads %v = %+v, want %+v or stale hints of them", apps, got, want)
			}
		}
	}
	submit(t, b, item("a", "x", 50), item("a", "y", 10), item("b", "z", store.DefaultPriority), item("b", "n", -3))
	apps := []string{"a", "b", "c"}
	want(apps, store.Head{Ready: true, Priority: 10}, store.Head{Ready: true, Priority: -3}, store.Head{})
	if got := heads(); len(got) != 0 {
		t.Fatalf("heads of no app = %+v", got)
	}

	// Claimed: the next entry is the head; none once all are claimed.
	short := claimOne(t, b, "a", longLease)
	hint(apps, store.Head{Ready: true, Priority: 50}, store.Head{Ready: true, Priority: -3}, store.Head{})
	claimOne(t, b, "a", longLease)
	hint(apps, store.Head{}, store.Head{Ready: true, Priority: -3}, store.Head{})

	// The first lease ends: its entry is claimable again, and the head.
	expire(t, b, short)
	hint([]string{"a"}, store.Head{Ready: true, Priority: 10})
	if l := claimOne(t, b, "a", longLease); l.JobID != "y" {
		t.Fatalf("claimed %v after the lease ended, want a y", l.Ref)
	}

	// Completed: gone from the queue.
	l := claimOne(t, b, "b", longLease)
	complete(t, b, l)
	hint([]string{"b"}, store.Head{Ready: true, Priority: store.DefaultPriority})
}

// testClaimAcross: a claim across apps (ClaimRequest.Apps) takes from the
// app whose queue's head has the best priority, ties going to the earlier
// in Apps; an app whose claim takes nothing (a full limit) gives way to
// the next, and the result names that limit; MaxRetry and Limits are
// each app's; the result's jobs name their app; CompleteClaim records the
// completion whichever app it claims from; a request that names an app
// beside its Apps is invalid.
func (s suite) testClaimAcross(t *testing.T) {
	b, _ := s.open(t)
	app := func(name string) store.AppClaim { return store.AppClaim{App: name} }
	across := func(owner string, lease time.Duration, apps ...store.AppClaim) store.ClaimRequest {
		return store.ClaimRequest{Owner: owner, N: 1, Lease: lease, Apps: apps}
	}
	want := func(what string, req store.ClaimRequest, r store.Ref) store.ClaimResult {
		t.Helper()
		res := claimAs(t, b, req)
		if len(res.Leases) != 1 || res.Leases[0].Ref != r {
			t.Fatalf("%s: claimed %+v, want %v", what, res.Leases, r)
		}
		return res
	}
	submit(t, b, item("x", "1", 50), item("x", "2", 50), item("y", "1", 50))

	// Equal priorities: the earlier app in Apps; apps with nothing queued
	// (z never had a job) are passed over.
	x1 := want("tie, x first", across("w1", longLease, app("z"), app("x"), app("y")), ref("x", "1")).Leases[0]
	want("tie, y first", across("w1", longLease, app("y"), app("x")), ref("y", "1"))
	x2 := want("only x has a job", across("w1", longLease, app("z"), app("y"), app("x")), ref("x", "2")).Leases[0]
	if res := claimAs(t, b, across("w1", longLease, app("x"), app("y"), app("z"))); len(res.Leases) != 0 || len(res.Failed) != 0 {
		t.Fatalf("claim across with every job claimed: %+v", res)
	}

	// The best priority wins whatever the order of Apps.
	submit(t, b, item("x", "3", 50), item("y", "3", 5))
	want("y has the better priority", across("w1", longLease, app("x"), app("y")), ref("y", "3"))
	x3 := want("then x", across("w1", longLease, app("x"), app("y")), ref("x", "3")).Leases[0]

	// x's own limit of one job is full once x 4 runs under it: x 5, its
	// better job, waits, y's is claimed, and the result names the limit.
	for _, l := range []store.Lease{x1, x2, x3} {
		complete(t, b, l)
	}
	submit(t, b, item("x", "4", 1), item("x", "5", 1), item("y", "4", 60))
	limited := store.AppClaim{App: "x", Limits: []store.Limit{{Name: "app x", Max: 1, Apps: []string{"x"}}}}
	want("x's limit has room", across("w1", longLease, limited, app("y")), ref("x", "4"))
	res := want("x's limit full", across("w1", longLease, limited, app("y")), ref("y", "4"))
	if res.Limited != "app x" {
		t.Fatalf("claim across with x's limit full: limited %q, want %q", res.Limited, "app x")
	}

	// CompleteClaim: y 4 is completed, x 5 (no limit now) claimed.
	y4 := res.Leases[0]
	got, done, err := store.CompleteClaim(ctx(t), b, y4, "exit 0", nil, across("w2", longLease, app("y"), app("x")))
	if done != nil || err != nil || len(got.Leases) != 1 || got.Leases[0].Ref != ref("x", "5") || got.Leases[0].Owner != "w2" {
		t.Fatalf("complete y 4 and claim across: %+v, %v, %v; want x 5 claimed by w2", got, done, err)
	}
	checkJob(t, b, ref("y", "4"), view{State: store.Completed, Outcome: "exit 0"})

	// MaxRetry is each app's: y 5's lease ends, abandoned, and the claim
	// that finds it fails it (max retry 1) rather than take it.
	submit(t, b, item("y", "5", 70))
	short := want("y 5, short lease", across("w1", shortLease, app("y")), ref("y", "5")).Leases[0]
	waitPast(t, short.Until)
	res = claimAs(t, b, across("w1", longLease, app("x"), store.AppClaim{App: "y", MaxRetry: 1}))
	if len(res.Leases) != 0 || len(res.Failed) != 1 || res.Failed[0].Ref != ref("y", "5") || res.Failed[0].State != store.Failed {
		t.Fatalf("claim across of an abandoned job at max retry: %+v, want y 5 failed", res)
	}

	// A request with an app beside its apps, or a bad app among them.
	for _, req := range []store.ClaimRequest{
		{App: "x", Owner: "w1", N: 1, Lease: longLease, Apps: []store.AppClaim{app("y")}},
		across("w1", longLease, app("x"), app("")),
	} {
		if _, err := b.Claim(ctx(t), req); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("claim %+v: %v, want ErrInvalid", req, err)
		}
	}
}
