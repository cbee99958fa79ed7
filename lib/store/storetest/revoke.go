package storetest

import (
	"errors"
	"reflect"
	"testing"

	"github.com/stolos-sched/stolos/lib/store"
)

// testRevokeReadd: a readd of a job run by name (claimed, not queued)
// revokes its lease and queues it, claimable once the holder releases the
// lease, or once the lease would have ended.
func (s suite) testRevokeReadd(t *testing.T) {
	b, _ := s.open(t)
	a1, a2 := ref("a", "1"), ref("a", "2")
	l1 := acquire(t, b, a1, "w1", longLease)
	l2 := acquire(t, b, a2, "w1", held)
	for _, r := range []store.Ref{a1, a2} {
		readd := item(r.App, r.JobID, 5)
		readd.Readd = true
		if res := submit(t, b, readd); res[0] != store.Requeued {
			t.Fatalf("readd of a job run by name: %v, want %v", res[0], store.Requeued)
		}
	}
	checkJobs(t, b, map[store.Ref]view{
		a1: {State: store.Pending, Queued: true, Priority: 5, Owner: "w1", Revoked: true},
		a2: {State: store.Pending, Queued: true, Priority: 5, Owner: "w1", Revoked: true},
	})
	for _, l := range []store.Lease{l1, l2} {
		if err := b.Held(ctx(t), l); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("held after a readd: %v, want %v", err, store.ErrLeaseLost)
		}
	}
	if got := claim(t, b, "a", 2, longLease); len(got.Leases) != 0 || !near(got.Next, l2.Until) {
		t.Fatalf("claim under revoked leases: %v next %v, want none and %v", ids(got.Leases), got.Next, l2.Until)
	}
	// a/2's revoked lease runs out: claimable, and no abandoned attempt
	// (its holder was told to stop).
	waitPast(t, l2.Until)
	if got := ids(claim(t, b, "a", 2, longLease).Leases); !reflect.DeepEqual(got, []string{"2"}) {
		t.Fatalf("claim after a revoked lease ran out: %v, want [2]", got)
	}
	checkJob(t, b, a2, view{State: store.Pending, Queued: true, Priority: 5, Owner: "w1"})
	if err := b.Release(ctx(t), l1); err != nil {
		t.Fatalf("release a revoked lease: %v", err)
	}
	if got := ids(claim(t, b, "a", 2, longLease).Leases); !reflect.DeepEqual(got, []string{"1"}) {
		t.Fatalf("claim after the release: %v, want [1]", got)
	}
}

// testAbandoned: a worker's lease that runs out without an outcome is a
// failed attempt, counted by the claim or acquire that takes the job next;
// the claim fails the job when the count reaches its MaxRetry. Leases that
// were released, transferable or revoked are not attempts.
func (s suite) testAbandoned(t *testing.T) {
	b, _ := s.open(t)
	q1, q2, q3, q4 := ref("q", "1"), ref("q", "2"), ref("q", "3"), ref("q", "4")
	submit(t, b, item("q", "1", 1), item("q", "2", 2), item("q", "3", 3))
	req := claimReq("q", "w1", 1, longLease)
	req.MaxRetry = 2
	expire(t, b, claimAs(t, b, req).Leases[0])
	l := claimAs(t, b, req).Leases[0]
	if l.Ref != q1 || l.Attempts != 1 {
		t.Fatalf("claim after an abandoned attempt: %+v, want q 1 with 1 attempt", l)
	}
	checkJob(t, b, q1, view{State: store.Pending, Queued: true, Priority: 1, Owner: "w1",
		Attempts: 1, Outcome: store.AbandonedOutcome("w1")})
	expire(t, b, l)
	res := claimAs(t, b, req)
	if len(res.Leases) != 1 || res.Leases[0].Ref != q2 || res.Leases[0].Attempts != 0 {
		t.Fatalf("claim after the last abandoned attempt: %+v, want q 2", res.Leases)
	}
	want := view{State: store.Failed, Attempts: 2, Outcome: store.AbandonedOutcome("w1")}
	if len(res.Failed) != 1 || res.Failed[0].Ref != q1 || viewOf(res.Failed[0]) != want {
		t.Fatalf("claim failed %+v, want q 1 %v", res.Failed, want)
	}
	checkJob(t, b, q1, want)

	// Released, transferable and revoked leases are no attempts.
	if err := b.Release(ctx(t), res.Leases[0]); err != nil {
		t.Fatalf("release: %v", err)
	}
	tr := req
	tr.Transferable, tr.N, tr.Lease = true, 2, shortLease
	ls := claimAs(t, b, tr).Leases
	if got := ids(ls); !reflect.DeepEqual(got, []string{"2", "3"}) {
		t.Fatalf("transferable claim: %v, want [2 3]", got)
	}
	waitPast(t, ls[1].Until)
	l3 := acquire(t, b, q3, "w2", held)
	setState(t, b, q3, store.Pending, "")
	waitPast(t, l3.Until)
	req.N = 2
	if got := claimAs(t, b, req); len(got.Failed) != 0 || !reflect.DeepEqual(ids(got.Leases), []string{"2", "3"}) ||
		got.Leases[0].Attempts != 0 || got.Leases[1].Attempts != 0 {
		t.Fatalf("claim after released, transferable and revoked leases: %+v, want q 2 and q 3 with no attempt", got)
	}

	// Acquire counts an abandoned attempt too, and runs the job whatever
	// the count (an operator asked for it).
	l4 := acquire(t, b, q4, "w1", shortLease)
	waitPast(t, l4.Until)
	if l4 = acquire(t, b, q4, "w2", longLease); l4.Attempts != 1 {
		t.Fatalf("acquire after an abandoned attempt: %+v, want 1 attempt", l4)
	}
	checkJob(t, b, q4, view{State: store.Pending, Owner: "w2", Attempts: 1, Outcome: store.AbandonedOutcome("w1")})
}
