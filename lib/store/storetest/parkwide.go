package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
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

// testFanInLate: the fan-in record of a child of 10,000 parents is built
// when half of them are completed already (they completed while the child
// did not need it), in bounded steps on the backends that need them, while
// four workers complete the other half at once; the child is queued once,
// by the last completion, and no completion fails.
func (s suite) testFanInLate(t *testing.T) {
	b, _ := s.open(t)
	long := longCtx(t)
	const n = 10000
	parents := refsOf("p", n)
	submitMany(t, b, parents)
	c := child(ref("c", "1"), parents...)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	run := func(part []store.Ref, kids []store.Child) {
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(part); i += 4 {
					if err := b.Complete(long, store.Lease{Ref: part[i]}, "exit 0", kids); err != nil {
						errs <- fmt.Errorf("complete %v: %w", part[i], err)
						return
					}
				}
			}()
		}
		wg.Wait()
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
	}
	run(parents[:n/2], nil)
	checkJob(t, b, c.Ref, view{})
	run(parents[n/2:], []store.Child{c})
	checkJob(t, b, c.Ref, pendingQueued(100))
	checkCounts(t, b, "c", counts{Pending: 1, Queued: 1})
	if refs, err := b.Unfinished(ctx(t), 0, 10); err != nil || len(refs) != 0 {
		t.Errorf("unfinished: %v %v, want none", refs, err)
	}
}

// testFanInLateKilled: the completion that builds the record of a child of
// 3,000 parents, 2,000 of them completed already, dies between two steps
// (on the backends that build it in steps); the marker is listed, Resume
// finishes the record, and the child is queued by the last of the other
// parents, once.
func (s suite) testFanInLateKilled(t *testing.T) {
	b, _ := s.open(t)
	long := longCtx(t)
	const n = 3000
	parents := refsOf("p", n)
	submitMany(t, b, parents)
	c := child(ref("c", "1"), parents...)
	for _, p := range parents[:2000] {
		if err := b.Complete(long, store.Lease{Ref: p}, "exit 0", nil); err != nil {
			t.Fatalf("complete %v: %v", p, err)
		}
	}
	killed := errors.New("killed")
	steps := 0
	hook := store.WithStepHook(long, func(parent store.Ref, done int) error {
		steps++
		return killed
	})
	err := b.Complete(hook, store.Lease{Ref: parents[2000]}, "exit 0", []store.Child{c})
	t.Logf("%d steps before the kill", steps)
	if steps == 0 {
		if err != nil {
			t.Fatalf("complete in one step: %v", err)
		}
	} else {
		if !errors.Is(err, killed) || !errors.Is(err, store.ErrUnfinished) {
			t.Fatalf("complete killed after its first step: %v, want killed and store.ErrUnfinished", err)
		}
		refs, err := b.Unfinished(ctx(t), 0, 10)
		if err != nil || !reflect.DeepEqual(refs, []store.Marker{{Ref: parents[2000]}}) {
			t.Fatalf("unfinished: %v %v, want [%v]", refs, err, parents[2000])
		}
		if err := b.Resume(long, parents[2000], []store.Child{c}); err != nil {
			t.Fatalf("resume: %v", err)
		}
	}
	checkJob(t, b, c.Ref, view{})
	for i, p := range parents[2001:] {
		if i == n-2002 {
			checkJob(t, b, c.Ref, view{})
		}
		if err := b.Complete(long, store.Lease{Ref: p}, "exit 0", []store.Child{c}); err != nil {
			t.Fatalf("complete %v: %v", p, err)
		}
	}
	checkJob(t, b, c.Ref, pendingQueued(100))
	if refs, err := b.Unfinished(ctx(t), 0, 10); err != nil || len(refs) != 0 {
		t.Errorf("unfinished: %v %v, want none", refs, err)
	}
}

// testClaimMany: one claim of 2,500 jobs (more than store.Batch, which
// some backends take per step) takes the first 2,500 of 3,000 in queue
// order, each once; the next claim takes the other 500.
func (s suite) testClaimMany(t *testing.T) {
	b, _ := s.open(t)
	refs := refsOf("a", 3000)
	submitMany(t, b, refs)
	got := claim(t, b, "a", 2500, longLease).Leases
	if len(got) != 2500 {
		t.Fatalf("claim 2500: got %d leases", len(got))
	}
	for i, l := range got {
		if l.Ref != refs[i] {
			t.Fatalf("lease %d: %v, want %v (queue order)", i, l.Ref, refs[i])
		}
	}
	rest := claim(t, b, "a", 1000, longLease).Leases
	if len(rest) != 500 || rest[0].Ref != refs[2500] || rest[499].Ref != refs[2999] {
		t.Fatalf("claim of the rest: %d leases, want the last 500", len(rest))
	}
	checkCounts(t, b, "a", counts{Pending: 3000, Queued: 3000, Claimed: 3000})
}

// testFanInManyReset: when the set of a child of 6,000 parents is full,
// 5,000 of them have been set back to pending since they completed; the
// check before queueing takes them out (in bounded steps on the backends
// that need them), and the child is queued once all are completed again.
func (s suite) testFanInManyReset(t *testing.T) {
	b, _ := s.open(t)
	long := longCtx(t)
	const n, reset = 6000, 5000
	parents := refsOf("p", n)
	submitMany(t, b, parents)
	c := child(ref("c", "1"), parents...)
	done := func(refs []store.Ref) {
		t.Helper()
		for _, p := range refs {
			if err := b.Complete(long, store.Lease{Ref: p}, "exit 0", []store.Child{c}); err != nil {
				t.Fatalf("complete %v: %v", p, err)
			}
		}
	}
	done(parents[:n-1])
	for _, p := range parents[:reset] {
		if err := b.SetState(long, p, store.Pending, "reset"); err != nil {
			t.Fatalf("set %v pending: %v", p, err)
		}
	}
	done(parents[n-1:])
	checkJob(t, b, c.Ref, view{})
	done(parents[:reset-1])
	checkJob(t, b, c.Ref, view{})
	done(parents[reset-1 : reset])
	checkJob(t, b, c.Ref, pendingQueued(100))
}
