package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// testDefer: Defer puts a claimed job back at the back of its queue,
// claimable after the delay, with the outcome given, and counts and
// records no attempt; the lease's number is given back; it is fenced
// like Fail.
func (s suite) testDefer(t *testing.T) {
	b, _ := s.open(t)
	since := time.Now()
	q1 := ref("q", "1")
	submit(t, b, item("q", "1", 100), item("q", "2", 100))
	l := claimOne(t, b, "q", longLease)
	if l.Ref != q1 || l.Seq != 1 {
		t.Fatalf("claim: %v seq %d, want q 1 seq 1", l.Ref, l.Seq)
	}
	waiting := store.WaitingOutcome(since)
	before := time.Now()
	if err := b.Defer(ctx(t), withLog(l), waiting, held); err != nil {
		t.Fatalf("defer: %v", err)
	}
	after := time.Now()
	checkJob(t, b, q1, view{State: store.Pending, Queued: true, Priority: 100, Outcome: waiting})
	j := getJobs(t, b, q1)[0]
	checkUntil(t, "not before", j.NotBefore, before, after, held)
	checkHistory(t, b, q1, since)

	// Fenced: the lease is over.
	wantLeaseLost(t, "defer again", b.Defer(ctx(t), l, waiting, 0))
	_, err := b.Fail(ctx(t), l, "exit 1", 5, 0)
	wantLeaseLost(t, "fail after defer", err)

	// The other job runs meanwhile; the deferred one comes back after
	// its delay, behind it, with the same number and no attempt.
	r := claim(t, b, "q", 5, longLease)
	if got := ids(r.Leases); !reflect.DeepEqual(got, []string{"2"}) || !near(r.Next, j.NotBefore) {
		t.Fatalf("claim during the delay: %v next %v, want [2] and %v", got, r.Next, j.NotBefore)
	}
	complete(t, b, r.Leases[0])
	var got store.Lease
	waitFor(t, "claim after the delay", func() bool {
		r := claim(t, b, "q", 5, longLease)
		if len(r.Leases) > 0 {
			got = r.Leases[0]
		}
		return len(r.Leases) > 0
	})
	if got.Ref != q1 || got.Attempts != 0 || got.Seq != 1 {
		t.Fatalf("claim after the delay: %v attempts %d seq %d, want q 1, 0 attempts, seq 1", got.Ref, got.Attempts, got.Seq)
	}
	// A failed attempt after it is attempt 1, counted and recorded.
	fail(t, b, got, "exit 3", 5, 0)
	checkJob(t, b, q1, view{State: store.Pending, Queued: true, Priority: 100, Attempts: 1, Outcome: "exit 3"})
	checkHistory(t, b, q1, since, brief{1, "w1", "exit 3", ""})

	// A job run by Acquire (no queue entry) is queued by Defer, claimable
	// at once with no delay; the failed attempts so far stay.
	la := acquire(t, b, ref("q", "3"), "w2", longLease)
	if err := b.Defer(ctx(t), la, waiting, 0); err != nil {
		t.Fatalf("defer of an acquired job: %v", err)
	}
	checkJob(t, b, ref("q", "3"), view{State: store.Pending, Queued: true, Priority: store.DefaultPriority, Outcome: waiting})
	r = claim(t, b, "q", 5, longLease)
	if gotIDs := ids(r.Leases); !reflect.DeepEqual(gotIDs, []string{"1", "3"}) || r.Leases[0].Attempts != 1 {
		t.Fatalf("claim after defer of an acquired job: %v, want [1 3] with 1 attempt of 1", gotIDs)
	}
	checkHistory(t, b, ref("q", "3"), since)
}
