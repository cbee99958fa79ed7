package storetest

import (
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// testParkWide: Park of a child whose parents are 10,000 absent jobs,
// all named above, queues every parent exactly once (in bounded steps on
// the backends that need them), parks the child, and the child is queued
// by the completion of its last parent and then Ready.
func (s suite) testParkWide(t *testing.T) {
	s.parkWide(t, 10000)
}

func (s suite) parkWide(t *testing.T, n int) {
	b, _ := s.open(t)
	long := longCtx(t)
	parents := refsOf("p", n)
	above := make([]store.Node, n)
	for i, p := range parents {
		above[i] = store.Node{Ref: p}
	}
	submit(t, b, item("c", "1", 7))
	l := claimOne(t, b, "c", longLease)
	start := time.Now()
	res, err := b.Park(long, l, parents, above)
	if err != nil {
		t.Fatalf("park with %d absent parents: %v", n, err)
	}
	t.Logf("park with %d absent parents: %v", n, time.Since(start))
	if res.Ready || len(res.Parents) != n || res.Parents[0].Ref != parents[0] || res.Parents[0].State != store.Absent ||
		res.Parents[n-1].Ref != parents[n-1] || res.Parents[n-1].State != store.Absent {
		t.Fatalf("park: ready %v, %d parents, want not ready and %d absent", res.Ready, len(res.Parents), n)
	}
	checkJob(t, b, l.Ref, view{State: store.Pending})
	checkCounts(t, b, "p", counts{Pending: n, Queued: n})

	// Every parent is claimed once; the last one's completion queues
	// the child.
	c := child(l.Ref, parents...)
	seen := make(map[string]bool, n)
	for {
		got, err := b.Claim(long, claimReq("p", "w1", 500, longLease))
		if err != nil {
			t.Fatalf("claim parents: %v", err)
		}
		if len(got.Leases) == 0 {
			break
		}
		for _, pl := range got.Leases {
			if seen[pl.JobID] {
				t.Fatalf("parent %s claimed twice", pl.JobID)
			}
			seen[pl.JobID] = true
			if pl.Priority != 7 {
				t.Fatalf("parent %s queued with priority %d, want the child's 7", pl.JobID, pl.Priority)
			}
			if len(seen) == n {
				checkJob(t, b, l.Ref, view{State: store.Pending})
			}
			if err := b.Complete(long, pl, "exit 0", []store.Child{c}); err != nil {
				t.Fatalf("complete %v: %v", pl.Ref, err)
			}
		}
	}
	if len(seen) != n {
		t.Fatalf("%d parents claimed, want %d", len(seen), n)
	}
	checkJob(t, b, l.Ref, pendingQueued(7))
	l = claimOne(t, b, "c", longLease)
	if res, err := b.Park(long, l, parents, above); err != nil || !res.Ready {
		t.Fatalf("park with every parent completed: ready %v, %v", res.Ready, err)
	}
}
