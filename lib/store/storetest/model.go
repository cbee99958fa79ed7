package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

func (s suite) testSubmitNew(t *testing.T) {
	b, _ := s.open(t)
	skip := item("a", "2", 100)
	skip.Skip = true
	res := submit(t, b, item("a", "1", 7), skip, item("b", "1", 100))
	want := []store.SubmitResult{store.Created, store.CreatedSkipped, store.Created}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("submit: %v, want %v", res, want)
	}
	checkJobs(t, b, map[store.Ref]view{
		ref("a", "1"): pendingQueued(7),
		ref("a", "2"): {State: store.Skipped},
		ref("b", "1"): pendingQueued(100),
	})
}

func (s suite) testSubmitExisting(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("a", "1", 50), item("a", "2", 50))
	l := claimOne(t, b, "a", longLease)
	completeRef(t, b, ref("a", "2"))
	res := submit(t, b, item("a", "1", 10), item("a", "2", 10))
	want := []store.SubmitResult{store.Exists, store.Exists}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("submit existing: %v, want %v", res, want)
	}
	checkJobs(t, b, map[store.Ref]view{
		ref("a", "1"): {State: store.Pending, Queued: true, Priority: 50, Owner: "w1"},
		ref("a", "2"): {State: store.Completed, Outcome: "exit 0"},
	})
	complete(t, b, l) // the lease survived
}

func (s suite) testSubmitBatchDuplicate(t *testing.T) {
	b, _ := s.open(t)
	res := submit(t, b, item("a", "1", 5), item("a", "1", 6))
	want := []store.SubmitResult{store.Created, store.Exists}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("submit twice in one batch: %v, want %v", res, want)
	}
	checkJob(t, b, ref("a", "1"), pendingQueued(5))
}

// testSubmitReadd: a readd re-queues a job in any state, resets its attempts,
// and sets its existing descendants pending and unqueued (a claimed one
// keeps its lease; an absent one stays absent).
func (s suite) testSubmitReadd(t *testing.T) {
	b, _ := s.open(t)
	a1, b1, c1, d1, e1 := ref("a", "1"), ref("b", "1"), ref("c", "1"), ref("d", "1"), ref("e", "1")
	// a/1 completed, which queues b/1; b/1 fails for good.
	submit(t, b, item("a", "1", 100))
	complete(t, b, claimOne(t, b, "a", longLease), child(b1, a1))
	fail(t, b, claimOne(t, b, "b", longLease), "exit 3", 1, 0)
	// c/1 pending and queued with one failed attempt.
	submit(t, b, item("c", "1", 100))
	fail(t, b, claimOne(t, b, "c", longLease), "exit 4", 5, 0)
	// d/1 claimed.
	submit(t, b, item("d", "1", 100))
	dl := claimOne(t, b, "d", longLease)
	checkJobs(t, b, map[store.Ref]view{
		a1: {State: store.Completed, Outcome: "exit 0"},
		b1: {State: store.Failed, Attempts: 1, Outcome: "exit 3"},
		c1: {State: store.Pending, Queued: true, Priority: 100, Attempts: 1, Outcome: "exit 4"},
		d1: {State: store.Pending, Queued: true, Priority: 100, Owner: "w1"},
	})

	readd := item("a", "1", 7)
	readd.Readd = true
	readd.Reset = []store.Ref{b1, c1, d1, e1}
	if res := submit(t, b, readd); res[0] != store.Requeued {
		t.Fatalf("readd completed job: %v, want %v", res[0], store.Requeued)
	}
	checkJobs(t, b, map[store.Ref]view{
		a1: {State: store.Pending, Queued: true, Priority: 7, Outcome: "exit 0"},
		b1: {State: store.Pending, Outcome: "exit 3"},
		c1: {State: store.Pending, Outcome: "exit 4"},
		d1: {State: store.Pending, Queued: true, Priority: 100, Owner: "w1", Revoked: true},
		e1: {},
	})
	// The claimed descendant's lease is revoked: its holder learns it, and
	// the job is not claimable before the holder releases it.
	wantLeaseLost(t, "complete a reset descendant", b.Complete(ctx(t), dl, "exit 0", nil))
	if got := claim(t, b, "d", 1, longLease); len(got.Leases) != 0 {
		t.Fatalf("claim of a revoked lease's job: %v, want none", ids(got.Leases))
	}
	if err := b.Release(ctx(t), dl); err != nil {
		t.Fatalf("release a revoked lease: %v", err)
	}
	checkJob(t, b, d1, pendingQueued(100))

	// A readd of a failed job resets its attempts; of an absent job creates it;
	// with Skip (valid_if_or says no) it is skipped and not queued.
	setState(t, b, b1, store.Failed, "exit 3")
	r1 := item("b", "1", 3)
	r1.Readd = true
	r2 := item("b", "2", 3)
	r2.Readd = true
	r3 := item("c", "1", 3)
	r3.Readd, r3.Skip = true, true
	res := submit(t, b, r1, r2, r3)
	want := []store.SubmitResult{store.Requeued, store.Created, store.Requeued}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("readd: %v, want %v", res, want)
	}
	checkJobs(t, b, map[store.Ref]view{
		b1:            {State: store.Pending, Queued: true, Priority: 3, Outcome: "exit 3"},
		ref("b", "2"): pendingQueued(3),
		c1:            {State: store.Skipped, Outcome: "exit 4"},
	})
	if got, want := claimIDs(t, b, "b"), []string{"1", "2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("claim readded: %v, want %v", got, want)
	}
}

// testSubmitReaddQueued: a readd of a queued job does not queue it twice
// but still resets its descendants.
func (s suite) testSubmitReaddQueued(t *testing.T) {
	b, _ := s.open(t)
	a1, b1 := ref("a", "1"), ref("b", "1")
	submit(t, b, item("a", "1", 100), item("b", "1", 100))
	completeRef(t, b, b1)
	fail(t, b, claimOne(t, b, "a", longLease), "exit 1", 5, 0)
	l := claimOne(t, b, "a", longLease)
	if l.Attempts != 1 {
		t.Fatalf("claim after a failure: %+v", l)
	}
	readd := item("a", "1", 100)
	readd.Readd = true
	readd.Reset = []store.Ref{b1}
	if res := submit(t, b, readd); res[0] != store.AlreadyQueued {
		t.Fatalf("readd queued job: %v, want %v", res[0], store.AlreadyQueued)
	}
	checkJobs(t, b, map[store.Ref]view{
		a1: {State: store.Pending, Queued: true, Priority: 100, Owner: "w1", Revoked: true, Outcome: "exit 1"},
		b1: {State: store.Pending, Outcome: "exit 0"},
	})
	wantLeaseLost(t, "complete after a readd", b.Complete(ctx(t), l, "exit 0", nil))
	if got := claim(t, b, "a", 10, longLease); len(got.Leases) != 0 {
		t.Fatalf("claim while the revoked lease holds: %v, want none", ids(got.Leases))
	}
	if err := b.Release(ctx(t), l); err != nil {
		t.Fatalf("release a revoked lease: %v", err)
	}
	if got := ids(claim(t, b, "a", 10, longLease).Leases); !reflect.DeepEqual(got, []string{"1"}) {
		t.Fatalf("claim after readd of queued job: %v, want [1] once", got)
	}
}

// testClaimPriorityOrder ports test_LockingQueue_put_priority: entries put
// from two instances come out by priority across instances.
func (s suite) testClaimPriorityOrder(t *testing.T) {
	b1, spec := s.open(t)
	b2 := s.openSpec(t, spec)
	submit(t, b1, item("q", "b", 50))
	submit(t, b1, item("q", "c", 60))
	submit(t, b2, item("q", "e", 70))
	submit(t, b1, item("q", "d", 40))
	submit(t, b2, item("q", "a", 20))
	submit(t, b2, item("q", "f", 80))
	var got []string
	for i := 0; i < 6; i++ {
		b := []store.Backend{b1, b2}[i%2]
		got = append(got, claimOne(t, b, "q", longLease).JobID)
	}
	if want := []string{"a", "d", "b", "c", "e", "f"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("claim order: %v, want %v", got, want)
	}
	if res := claim(t, b1, "q", 1, longLease); len(res.Leases) != 0 {
		t.Fatalf("claim from drained queue: %v", ids(res.Leases))
	}
}

// testClaimInsertionOrder ports test_LockingQueue_put_insertion_order:
// equal priorities come out first in, first out, within a batch and
// across calls; priorities compare as numbers.
func (s suite) testClaimInsertionOrder(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("q", "z", 100), item("q", "y", 100), item("q", "x", 100))
	submit(t, b, item("q", "w", 100))
	submit(t, b, item("q", "v", 9))
	submit(t, b, item("q", "u", 100), item("q", "t", 1000))
	got := claimIDs(t, b, "q")
	if want := []string{"v", "z", "y", "x", "w", "u", "t"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("claim order: %v, want %v", got, want)
	}
}

// testClaimSizes ports test_LockingQueue_consume_size and _size.
func (s suite) testClaimSizes(t *testing.T) {
	b, _ := s.open(t)
	checkCounts(t, b, "q", counts{})
	submit(t, b, item("q", "a", 100), item("q", "b", 100))
	checkCounts(t, b, "q", counts{Pending: 2, Queued: 2})
	la := claimOne(t, b, "q", longLease)
	if la.JobID != "a" {
		t.Fatalf("claim: %s, want a", la.JobID)
	}
	checkCounts(t, b, "q", counts{Pending: 2, Queued: 2, Claimed: 1})
	complete(t, b, la)
	checkCounts(t, b, "q", counts{Pending: 1, Completed: 1, Queued: 1})
	lb := claimOne(t, b, "q", longLease)
	if lb.JobID != "b" {
		t.Fatalf("claim: %s, want b", lb.JobID)
	}
	checkCounts(t, b, "q", counts{Pending: 1, Completed: 1, Queued: 1, Claimed: 1})
	complete(t, b, lb)
	checkCounts(t, b, "q", counts{Completed: 2})
}

// testClaimN: leases come back in queue order with their priorities; a
// claim with nothing claimable reports when the first live lease ends.
func (s suite) testClaimN(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("q", "1", 5), item("q", "2", 6), item("q", "3", 7), item("q", "4", 8), item("q", "5", 9))
	r1 := claim(t, b, "q", 3, longLease)
	if got, want := ids(r1.Leases), []string{"1", "2", "3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("claim 3: %v, want %v", got, want)
	}
	for i, l := range r1.Leases {
		if l.Priority != 5+i || l.Attempts != 0 {
			t.Fatalf("lease %v: priority %d attempts %d, want %d 0", l.Ref, l.Priority, l.Attempts, 5+i)
		}
	}
	r2 := claim(t, b, "q", 3, longLease)
	if got, want := ids(r2.Leases), []string{"4", "5"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("claim 3 more: %v, want %v", got, want)
	}
	r3 := claim(t, b, "q", 3, longLease)
	if len(r3.Leases) != 0 {
		t.Fatalf("claim from a queue of claimed jobs: %v", ids(r3.Leases))
	}
	first := r1.Leases[0].Until
	for _, l := range append(r1.Leases, r2.Leases...) {
		if l.Until.Before(first) {
			first = l.Until
		}
	}
	if !near(r3.Next, first) {
		t.Fatalf("claim next: %v, want the first lease expiry %v", r3.Next, first)
	}
	for _, l := range append(r1.Leases, r2.Leases...) {
		complete(t, b, l)
	}
	if r := claim(t, b, "q", 3, longLease); len(r.Leases) != 0 || !r.Next.IsZero() {
		t.Fatalf("claim from empty queue: %v next %v, want none and zero", ids(r.Leases), r.Next)
	}
}

// testClaimNonPending: a queue entry whose job is no longer pending is never
// handed out.
func (s suite) testClaimNonPending(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("q", "1", 1), item("q", "2", 2), item("q", "3", 3), item("q", "4", 4))
	setState(t, b, ref("q", "1"), store.Failed, "given up")
	setState(t, b, ref("q", "2"), store.Skipped, "")
	setState(t, b, ref("q", "3"), store.Pending, "again")
	got := ids(claim(t, b, "q", 10, longLease).Leases)
	if want := []string{"3", "4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("claim: %v, want %v", got, want)
	}
	checkCounts(t, b, "q", counts{Pending: 2, Failed: 1, Skipped: 1, Queued: 2, Claimed: 2})
}

func (s suite) testClaimApps(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("x", "1", 100), item("y", "1", 1), item("x", "2", 100))
	if got, want := ids(claim(t, b, "x", 10, longLease).Leases), []string{"1", "2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("claim x: %v, want %v", got, want)
	}
	if got, want := ids(claim(t, b, "y", 10, longLease).Leases), []string{"1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("claim y: %v, want %v", got, want)
	}
}

// testLeaseExpiry: a job whose lease ran out is claimable again, by anyone,
// without counting an attempt; the old lease is lost.
func (s suite) testLeaseExpiry(t *testing.T) {
	b1, spec := s.open(t)
	b2 := s.openSpec(t, spec)
	submit(t, b1, item("q", "1", 100))
	l1 := claimOne(t, b1, "q", longLease)
	r := claim(t, b2, "q", 1, longLease)
	if len(r.Leases) != 0 || !near(r.Next, l1.Until) {
		t.Fatalf("claim of a held job: %v next %v, want none and %v", ids(r.Leases), r.Next, l1.Until)
	}
	l1 = expire(t, b1, l1)
	var l2 store.Lease
	waitFor(t, "claim after lease expiry", func() bool {
		r := claimAs(t, b2, claimReq("q", "w2", 1, longLease))
		if len(r.Leases) == 1 {
			l2 = r.Leases[0]
		}
		return len(r.Leases) == 1
	})
	// The lease that ran out is an abandoned attempt.
	if l2.JobID != "1" || l2.Token == l1.Token || l2.Attempts != 1 {
		t.Fatalf("reclaimed lease %+v", l2)
	}
	if !time.Now().After(l1.Until.Add(-tolerance)) {
		t.Fatalf("job reclaimed at %v before its lease ended at %v", time.Now(), l1.Until)
	}
	checkJob(t, b1, ref("q", "1"), view{State: store.Pending, Queued: true, Priority: 100, Owner: "w2",
		Attempts: 1, Outcome: store.AbandonedOutcome(l1.Owner)})
	wantLeaseLost(t, "complete with expired lease", b1.Complete(ctx(t), l1, "exit 0", nil))
	complete(t, b2, l2)
}

func (s suite) testRenew(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("q", "1", 100), item("q", "2", 100))
	l := claimOne(t, b, "q", held)
	before := time.Now()
	l2, err := b.Renew(ctx(t), l, longLease)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	checkUntil(t, "renewed lease", l2.Until, before, time.Now(), longLease)
	if l2.Ref != l.Ref || l2.Token != l.Token || l2.Owner != l.Owner {
		t.Fatalf("renewed lease %+v of %+v", l2, l)
	}
	waitPast(t, l.Until)
	if r := claim(t, b, "q", 1, longLease); len(r.Leases) != 1 || r.Leases[0].JobID != "2" {
		t.Fatalf("claim after renew: %v, want [2]", ids(r.Leases))
	}
	checkJob(t, b, ref("q", "1"), view{State: store.Pending, Queued: true, Priority: 100, Owner: "w1"})
	// A lease that ran out cannot be renewed, even if nobody took the job.
	submit(t, b, item("q", "3", 100))
	l3 := claimOne(t, b, "q", shortLease)
	waitPast(t, l3.Until)
	_, err = b.Renew(ctx(t), l3, longLease)
	wantLeaseLost(t, "renew expired lease", err)
	checkJob(t, b, ref("q", "3"), pendingQueued(100))
	complete(t, b, l2)
}

func (s suite) testRelease(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("q", "1", 100))
	l := claimOne(t, b, "q", longLease)
	if err := b.Release(ctx(t), l); err != nil {
		t.Fatalf("release: %v", err)
	}
	checkJob(t, b, ref("q", "1"), pendingQueued(100))
	wantLeaseLost(t, "release twice", b.Release(ctx(t), l))
	l2 := claimOne(t, b, "q", longLease)
	if l2.JobID != "1" || l2.Attempts != 0 {
		t.Fatalf("claim after release: %+v", l2)
	}
	// Released without a queue entry, a job stays pending and unqueued.
	la := acquire(t, b, ref("r", "1"), "x", longLease)
	if err := b.Release(ctx(t), la); err != nil {
		t.Fatalf("release acquired: %v", err)
	}
	checkJob(t, b, ref("r", "1"), view{State: store.Pending})
}

// testFencing: every operation under a lease that was lost (expired and
// taken over, or a wrong token) fails with ErrLeaseLost and changes nothing.
func (s suite) testFencing(t *testing.T) {
	b, _ := s.open(t)
	p := ref("p", "1")
	submit(t, b, item("q", "1", 100))
	l1 := claimOne(t, b, "q", shortLease)
	waitPast(t, l1.Until)
	l2 := claimAs(t, b, claimReq("q", "w2", 1, longLease)).Leases[0]
	forged := l2
	forged.Token = l2.Token + "x"
	want := view{State: store.Pending, Queued: true, Priority: 100, Owner: "w2",
		Attempts: 1, Outcome: store.AbandonedOutcome(l1.Owner)}
	for _, l := range []store.Lease{l1, forged} {
		wantLeaseLost(t, "complete", b.Complete(ctx(t), l, "exit 0", []store.Child{child(ref("c", "1"), l.Ref)}))
		_, err := b.Fail(ctx(t), l, "exit 1", 5, 0)
		wantLeaseLost(t, "fail", err)
		_, err = parkNodes(ctx(t), b, l, []store.Node{{Ref: p}})
		wantLeaseLost(t, "park", err)
		_, err = b.Renew(ctx(t), l, longLease)
		wantLeaseLost(t, "renew", err)
		wantLeaseLost(t, "release", b.Release(ctx(t), l))
		checkJobs(t, b, map[store.Ref]view{l.Ref: want, ref("c", "1"): {}, p: {}})
	}
	// A lease whose job was completed is lost too.
	complete(t, b, l2)
	wantLeaseLost(t, "release completed", b.Release(ctx(t), l2))
	wantLeaseLost(t, "complete twice", b.Complete(ctx(t), l2, "exit 0", nil))
	// A lease that ran out is lost even when nobody took the job over.
	submit(t, b, item("q", "2", 100))
	l3 := claimOne(t, b, "q", shortLease)
	waitPast(t, l3.Until)
	wantLeaseLost(t, "complete expired", b.Complete(ctx(t), l3, "exit 0", nil))
	_, err := b.Fail(ctx(t), l3, "exit 1", 5, 0)
	wantLeaseLost(t, "fail expired", err)
	checkJob(t, b, l3.Ref, pendingQueued(100))
}

// testCompleteBubbleDown: completing a job queues each child all of whose
// parents are completed, and no other.
func (s suite) testCompleteBubbleDown(t *testing.T) {
	b, _ := s.open(t)
	p1, p2, p3 := ref("p", "1"), ref("p", "2"), ref("p", "3")
	c := func(id string) store.Ref { return ref("c", id) }
	submit(t, b, item("p", "1", 30), item("p", "2", 40))
	leases := claim(t, b, "p", 2, longLease).Leases
	// Existing children in other states.
	acquire(t, b, c("5"), "x", longLease)
	submit(t, b, item("c", "6", 1), item("c", "7", 1), item("c", "8", 1))
	completeRef(t, b, c("6"))
	setState(t, b, c("7"), store.Failed, "exit 1")
	l8 := claimAs(t, b, claimReq("c", "w8", 1, longLease)).Leases[0]
	if l8.JobID != "8" {
		t.Fatalf("claim c: %v", l8.Ref)
	}
	skip := child(c("4"), p1)
	skip.Skip = true
	complete(t, b, leases[0],
		child(c("1"), p1, p2), child(c("2"), p1), child(c("3"), p1, p3), skip)
	checkJobs(t, b, map[store.Ref]view{
		p1:     {State: store.Completed, Outcome: "exit 0"},
		p2:     {State: store.Pending, Queued: true, Priority: 40, Owner: "w1"},
		c("1"): {},
		c("2"): pendingQueued(30),
		c("3"): {},
		c("4"): {State: store.Skipped},
	})
	// c/5 pending and unqueued, c/6 completed, c/7 failed, c/8 claimed.
	l5 := getJobs(t, b, c("5"))[0]
	if !l5.Claimed(time.Now()) {
		t.Fatalf("c/5 not claimed: %+v", l5)
	}
	complete(t, b, leases[1],
		child(c("1"), p1, p2), child(c("5"), p2), child(c("6"), p2), child(c("7"), p2), child(c("8"), p2))
	checkJobs(t, b, map[store.Ref]view{
		p2:     {State: store.Completed, Outcome: "exit 0"},
		c("1"): pendingQueued(40),
		c("5"): {State: store.Pending, Queued: true, Priority: 40, Owner: "x"},
		c("6"): {State: store.Completed, Outcome: "exit 0"},
		c("7"): {State: store.Failed, Outcome: "exit 1"},
		c("8"): {State: store.Pending, Queued: true, Priority: 1, Owner: "w8"},
	})
	complete(t, b, l8) // its lease survived
}

// testCompleteIdempotent: bubble-down looks at states, not events, so
// completing a parent again queues nothing twice and re-queues nothing that
// ran, but does queue a pending child that lost its queue entry.
func (s suite) testCompleteIdempotent(t *testing.T) {
	b, _ := s.open(t)
	p1, c1, c2 := ref("p", "1"), ref("c", "1"), ref("c", "2")
	submit(t, b, item("p", "1", 100))
	kids := []store.Child{child(c1, p1), child(c2, p1)}
	complete(t, b, claimOne(t, b, "p", longLease), kids...)
	completeRef(t, b, p1, kids...)
	completeRef(t, b, p1, kids...)
	checkCounts(t, b, "c", counts{Pending: 2, Queued: 2})
	if got, want := claimIDs(t, b, "c"), []string{"1", "2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("claim children: %v, want %v", got, want)
	}
	completeRef(t, b, p1, kids...)
	checkCounts(t, b, "c", counts{Completed: 2})
	setState(t, b, c1, store.Pending, "")
	completeRef(t, b, p1, kids...)
	checkJobs(t, b, map[store.Ref]view{
		c1: pendingQueued(100),
		c2: {State: store.Completed, Outcome: "exit 0"},
	})
}

// testCompleteWithoutLease: a zero token (stolos-state -set completed)
// completes a job that no worker holds: one under a worker's lease, even a
// revoked one, is ErrHeld until the holder releases it; a transferable
// lease is dropped, and its holder's lease lost.
func (s suite) testCompleteWithoutLease(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("q", "1", 100), item("q", "2", 100), item("q", "4", 100))
	l := claimOne(t, b, "q", longLease)
	held := func(what string) {
		t.Helper()
		if err := b.Complete(ctx(t), store.Lease{Ref: l.Ref}, "exit 0", nil); !errors.Is(err, store.ErrHeld) {
			t.Fatalf("complete %s: %v, want %v", what, err, store.ErrHeld)
		}
	}
	held("a claimed job")
	checkJob(t, b, l.Ref, view{State: store.Pending, Queued: true, Priority: 100, Owner: "w1"})
	setState(t, b, l.Ref, store.Failed, "stopping")
	held("a job whose lease is revoked")
	if err := b.Release(ctx(t), l); err != nil {
		t.Fatalf("release a revoked lease: %v", err)
	}
	completeRef(t, b, l.Ref)
	checkJob(t, b, l.Ref, view{State: store.Completed, Outcome: "exit 0"})
	wantLeaseLost(t, "complete after forced complete", b.Complete(ctx(t), l, "exit 0", nil))
	tr := claimAs(t, b, store.ClaimRequest{App: "q", Owner: "c1", N: 1, Lease: longLease, Transferable: true}).Leases[0]
	completeRef(t, b, tr.Ref)
	checkJob(t, b, tr.Ref, view{State: store.Completed, Outcome: "exit 0"})
	wantLeaseLost(t, "complete under a dropped transferable lease", b.Complete(ctx(t), tr, "exit 0", nil))
	setState(t, b, ref("q", "2"), store.Failed, "exit 1")
	completeRef(t, b, ref("q", "2"))
	checkJob(t, b, ref("q", "2"), view{State: store.Completed, Outcome: "exit 0"})
	err := b.Complete(ctx(t), store.Lease{Ref: ref("q", "3")}, "exit 0", nil)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("complete absent: %v, want %v", err, store.ErrNotFound)
	}
	checkJob(t, b, ref("q", "3"), view{})
}

// testFailRetry: each failure counts an attempt; the one that reaches
// maxRetry is final; others queue the job again at the back; success resets
// the count.
func (s suite) testFailRetry(t *testing.T) {
	b, _ := s.open(t)
	a := ref("q", "a")
	submit(t, b, item("q", "a", 20))
	for i := 1; i <= 3; i++ {
		l := claimOne(t, b, "q", longLease)
		if l.Ref != a || l.Attempts != i-1 || l.Priority != 20 {
			t.Fatalf("claim %d: %+v", i, l)
		}
		if final := fail(t, b, l, "exit 3", 3, 0); final != (i == 3) {
			t.Fatalf("fail %d of 3: final %v", i, final)
		}
		wantLeaseLost(t, "complete after fail", b.Complete(ctx(t), l, "exit 0", nil))
		if i < 3 {
			checkJob(t, b, a, view{State: store.Pending, Queued: true, Priority: 20, Attempts: i, Outcome: "exit 3"})
		}
	}
	checkJob(t, b, a, view{State: store.Failed, Attempts: 3, Outcome: "exit 3"})
	if r := claim(t, b, "q", 1, longLease); len(r.Leases) != 0 || !r.Next.IsZero() {
		t.Fatalf("claim after final failure: %v next %v", ids(r.Leases), r.Next)
	}

	// A failed attempt goes to the back of its queue.
	submit(t, b, item("q", "b", 100), item("q", "c", 100))
	if final := fail(t, b, claimOne(t, b, "q", longLease), "exit 1", 2, 0); final {
		t.Fatalf("fail 1 of 2: final")
	}
	l := claimOne(t, b, "q", longLease)
	if l.JobID != "c" {
		t.Fatalf("claim after fail: %s, want c", l.JobID)
	}
	complete(t, b, l)
	l = claimOne(t, b, "q", longLease)
	if l.JobID != "b" || l.Attempts != 1 {
		t.Fatalf("claim: %+v, want b with 1 attempt", l)
	}
	complete(t, b, l)
	checkJob(t, b, ref("q", "b"), view{State: store.Completed, Outcome: "exit 0"})

	// maxRetry 1: the first failure is final. A job run without a queue entry
	// is queued when it fails.
	submit(t, b, item("q", "d", 100))
	if !fail(t, b, claimOne(t, b, "q", longLease), "timeout after 1s", 1, 0) {
		t.Fatalf("fail 1 of 1: not final")
	}
	checkJob(t, b, ref("q", "d"), view{State: store.Failed, Attempts: 1, Outcome: "timeout after 1s"})
	le := acquire(t, b, ref("q", "e"), "x", longLease)
	if fail(t, b, le, "signal KILL", 2, 0) {
		t.Fatalf("fail 1 of 2: final")
	}
	checkJob(t, b, ref("q", "e"), view{State: store.Pending, Queued: true, Priority: store.DefaultPriority, Attempts: 1, Outcome: "signal KILL"})
}

// testFailDelay: a retry delay makes the job claimable only after it, and
// Claim reports when.
func (s suite) testFailDelay(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("q", "1", 100))
	l := claimOne(t, b, "q", longLease)
	before := time.Now()
	fail(t, b, l, "exit 1", 5, held)
	after := time.Now()
	j := getJobs(t, b, l.Ref)[0]
	checkUntil(t, "not before", j.NotBefore, before, after, held)
	submit(t, b, item("q", "2", 200))
	r := claim(t, b, "q", 5, longLease)
	if got := ids(r.Leases); !reflect.DeepEqual(got, []string{"2"}) || !near(r.Next, j.NotBefore) {
		t.Fatalf("claim during retry delay: %v next %v, want [2] and %v", got, r.Next, j.NotBefore)
	}
	var got store.Lease
	waitFor(t, "claim after retry delay", func() bool {
		r := claim(t, b, "q", 5, longLease)
		if len(r.Leases) > 0 {
			got = r.Leases[0]
		}
		return len(r.Leases) > 0
	})
	if got.JobID != "1" || got.Attempts != 1 || time.Now().Before(j.NotBefore.Add(-tolerance)) {
		t.Fatalf("claimed %+v at %v, want job 1 after %v", got, time.Now(), j.NotBefore)
	}
}

func (s suite) testParkReady(t *testing.T) {
	b, _ := s.open(t)
	p1, p2 := ref("p", "1"), ref("p", "2")
	submit(t, b, item("p", "1", 100), item("p", "2", 100), item("c", "1", 100))
	completeRef(t, b, p1)
	completeRef(t, b, p2)
	l := claimOne(t, b, "c", longLease)
	res, err := parkNodes(ctx(t), b, l, []store.Node{{Ref: p1}, {Ref: p2}})
	if err != nil {
		t.Fatalf("park: %v", err)
	}
	if !res.Ready || len(res.Parents) != 2 || res.Parents[0].Ref != p1 || res.Parents[1].Ref != p2 ||
		res.Parents[0].State != store.Completed || res.Parents[1].State != store.Completed {
		t.Fatalf("park with completed parents: %+v", res)
	}
	checkJob(t, b, l.Ref, view{State: store.Pending, Queued: true, Priority: 100, Owner: "w1"})
	res, err = parkNodes(ctx(t), b, l, nil)
	if err != nil || !res.Ready || len(res.Parents) != 0 {
		t.Fatalf("park without parents: %+v %v", res, err)
	}
	complete(t, b, l)
}

// testParkBubbleUp: parking a child whose parents are not all completed
// creates the absent parents, queues the idle pending ones with the child's
// priority, and takes the child off its queue; the completion of its last
// parent queues it again, once.
func (s suite) testParkBubbleUp(t *testing.T) {
	b, _ := s.open(t)
	p := func(id string) store.Ref { return ref("p", id) }
	c1 := ref("c", "1")
	submit(t, b, item("c", "1", 15), item("p", "4", 99), item("p", "6", 100))
	l3 := acquire(t, b, p("3"), "x", longLease)
	if err := b.Release(ctx(t), acquire(t, b, p("3b"), "x", longLease)); err != nil {
		t.Fatalf("release: %v", err)
	}
	completeRef(t, b, p("6"))
	l := claimOne(t, b, "c", longLease)
	parents := []store.Node{{Ref: p("1")}, {Ref: p("3")}, {Ref: p("3b")}, {Ref: p("4")}, {Ref: p("6")}}
	res, err := parkNodes(ctx(t), b, l, parents)
	if err != nil {
		t.Fatalf("park: %v", err)
	}
	if res.Ready || len(res.Parents) != len(parents) {
		t.Fatalf("park: %+v", res)
	}
	seen := map[store.Ref]view{}
	for i, j := range res.Parents {
		if j.Ref != parents[i].Ref {
			t.Fatalf("park parents: %d is %v, want %v", i, j.Ref, parents[i].Ref)
		}
		seen[j.Ref] = view{State: j.State, Queued: j.Queued}
	}
	wantSeen := map[store.Ref]view{
		p("1"): {}, p("3"): {State: store.Pending}, p("3b"): {State: store.Pending},
		p("4"): {State: store.Pending, Queued: true}, p("6"): {State: store.Completed},
	}
	if !reflect.DeepEqual(seen, wantSeen) {
		t.Fatalf("parents as park saw them: %v, want %v", seen, wantSeen)
	}
	checkJobs(t, b, map[store.Ref]view{
		c1:      {State: store.Pending},
		p("1"):  pendingQueued(15),
		p("3"):  {State: store.Pending, Owner: "x"},
		p("3b"): pendingQueued(15),
		p("4"):  pendingQueued(99),
		p("6"):  {State: store.Completed, Outcome: "exit 0"},
	})
	_, err = b.Renew(ctx(t), l, longLease)
	wantLeaseLost(t, "renew parked lease", err)

	all := []store.Ref{p("1"), p("3"), p("3b"), p("4"), p("6")}
	kid := child(c1, all...)
	ls := claim(t, b, "p", 10, longLease).Leases
	if got, want := ids(ls), []string{"1", "3b", "4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("claim parents: %v, want %v", got, want)
	}
	for _, pl := range ls {
		complete(t, b, pl, kid)
		checkJob(t, b, c1, view{State: store.Pending})
	}
	// The last parent, completed under its lease; then one more with a
	// zero token.
	complete(t, b, l3, kid)
	completeRef(t, b, p("6"), kid)
	checkJob(t, b, c1, pendingQueued(store.DefaultPriority))
	if got := ids(claim(t, b, "c", 10, longLease).Leases); !reflect.DeepEqual(got, []string{"1"}) {
		t.Fatalf("claim child: %v, want [1]", got)
	}
}

// testParkBlocked: a child of a failed or skipped parent leaves its queue
// and stays pending; an absent parent that valid_if_or rejects is created
// skipped.
func (s suite) testParkBlocked(t *testing.T) {
	b, _ := s.open(t)
	p1, p2, c1 := ref("p", "1"), ref("p", "2"), ref("c", "1")
	submit(t, b, item("p", "1", 100), item("c", "1", 100))
	setState(t, b, p1, store.Failed, "exit 1")
	l := claimOne(t, b, "c", longLease)
	res, err := parkNodes(ctx(t), b, l, []store.Node{{Ref: p1}, {Ref: p2, Skip: true}})
	if err != nil {
		t.Fatalf("park: %v", err)
	}
	if res.Ready || len(res.Parents) != 2 || res.Parents[0].State != store.Failed || res.Parents[1].State != store.Absent {
		t.Fatalf("park: %+v", res)
	}
	checkJobs(t, b, map[store.Ref]view{
		c1: {State: store.Pending},
		p1: {State: store.Failed, Outcome: "exit 1"},
		p2: {State: store.Skipped},
	})
	checkCounts(t, b, "p", counts{Failed: 1, Skipped: 1})
}

func (s suite) testAcquire(t *testing.T) {
	b, _ := s.open(t)
	a1 := ref("a", "1")
	l := acquire(t, b, a1, "x", longLease)
	if l.Attempts != 0 || l.Priority != store.DefaultPriority {
		t.Fatalf("acquire absent: %+v", l)
	}
	checkJob(t, b, a1, view{State: store.Pending, Owner: "x"})
	if _, err := b.Acquire(ctx(t), a1, "y", longLease); !errors.Is(err, store.ErrHeld) {
		t.Fatalf("acquire held: %v, want %v", err, store.ErrHeld)
	}
	complete(t, b, l)
	submit(t, b, item("a", "2", 100), item("a", "3", 100), item("a", "4", 8))
	setState(t, b, ref("a", "2"), store.Failed, "")
	setState(t, b, ref("a", "3"), store.Skipped, "")
	for _, id := range []string{"1", "2", "3"} {
		if _, err := b.Acquire(ctx(t), ref("a", id), "y", longLease); !errors.Is(err, store.ErrNotPending) {
			t.Fatalf("acquire a/%s: %v, want %v", id, err, store.ErrNotPending)
		}
	}
	// A queued job, with a failed attempt: it stays queued, held.
	fail(t, b, claimOne(t, b, "a", longLease), "exit 1", 3, 0)
	l4 := acquire(t, b, ref("a", "4"), "y", longLease)
	if l4.Attempts != 1 || l4.Priority != 8 {
		t.Fatalf("acquire queued: %+v", l4)
	}
	checkJob(t, b, ref("a", "4"), view{State: store.Pending, Queued: true, Priority: 8, Owner: "y", Attempts: 1, Outcome: "exit 1"})
	if r := claim(t, b, "a", 5, longLease); len(r.Leases) != 0 {
		t.Fatalf("claim acquired job: %v", ids(r.Leases))
	}
	// A lease that ran out does not hold the job.
	l5 := acquire(t, b, ref("a", "5"), "y", shortLease)
	waitPast(t, l5.Until)
	acquire(t, b, ref("a", "5"), "z", longLease)
	checkCounts(t, b, "a", counts{Pending: 2, Completed: 1, Failed: 1, Skipped: 1, Queued: 1, Claimed: 2})
}

// testAcquireTakeover: a transferable lease (stolos-claim) is taken over by
// Acquire (stolos-exec JOB_ID); the lease Acquire takes is not.
func (s suite) testAcquireTakeover(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("a", "1", 100))
	req := claimReq("a", "claimer", 1, longLease)
	req.Transferable = true
	l1 := claimAs(t, b, req).Leases[0]
	l2 := acquire(t, b, l1.Ref, "exec", longLease)
	if l2.Token == l1.Token {
		t.Fatalf("takeover kept the token")
	}
	wantLeaseLost(t, "complete taken-over lease", b.Complete(ctx(t), l1, "exit 0", nil))
	if _, err := b.Acquire(ctx(t), l1.Ref, "exec2", longLease); !errors.Is(err, store.ErrHeld) {
		t.Fatalf("acquire from exec: %v, want %v", err, store.ErrHeld)
	}
	checkJob(t, b, l1.Ref, view{State: store.Pending, Queued: true, Priority: 100, Owner: "exec"})
	complete(t, b, l2)
}

func (s suite) testSetState(t *testing.T) {
	b, _ := s.open(t)
	a1, a2 := ref("a", "1"), ref("a", "2")
	if err := b.SetState(ctx(t), a1, store.Pending, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("set state of absent job: %v, want %v", err, store.ErrNotFound)
	}
	checkJob(t, b, a1, view{})
	submit(t, b, item("a", "1", 100), item("a", "2", 100))
	ls := claim(t, b, "a", 2, longLease).Leases
	// A claimed job's lease is revoked: lost to its holder, and kept
	// (owner, expiry) so that nobody takes the job before the holder
	// releases it.
	setState(t, b, a1, store.Pending, "reset by hand")
	checkJob(t, b, a1, view{State: store.Pending, Queued: true, Priority: 100, Owner: "w1", Revoked: true, Outcome: "reset by hand"})
	if err := b.Held(ctx(t), ls[0]); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("held after a revocation: %v, want %v", err, store.ErrLeaseLost)
	}
	if err := b.Held(ctx(t), ls[1]); err != nil {
		t.Fatalf("held: %v", err)
	}
	_, err := b.Renew(ctx(t), ls[0], longLease)
	wantLeaseLost(t, "renew a revoked lease", err)
	if got := claim(t, b, "a", 2, longLease); len(got.Leases) != 0 {
		t.Fatalf("claim of a revoked lease's job: %v, want none", ids(got.Leases))
	}
	if _, err := b.Acquire(ctx(t), a1, "w2", longLease); !errors.Is(err, store.ErrHeld) {
		t.Fatalf("acquire of a revoked lease's job: %v, want %v", err, store.ErrHeld)
	}
	setState(t, b, a2, store.Skipped, "skipped by hand")
	checkJob(t, b, a2, view{State: store.Skipped, Owner: "w1", Revoked: true, Outcome: "skipped by hand"})
	wantLeaseLost(t, "complete skipped", b.Complete(ctx(t), ls[1], "exit 0", nil))
	setState(t, b, a1, store.Failed, "failed by hand")
	checkJob(t, b, a1, view{State: store.Failed, Owner: "w1", Revoked: true, Outcome: "failed by hand"})
	wantLeaseLost(t, "complete failed", b.Complete(ctx(t), ls[0], "exit 0", nil))
	setState(t, b, a1, store.Pending, "")
	checkJob(t, b, a1, view{State: store.Pending, Owner: "w1", Revoked: true})
	// The holder's command is dead: releasing ends the revocation.
	for _, l := range ls {
		if err := b.Release(ctx(t), l); err != nil {
			t.Fatalf("release a revoked lease: %v", err)
		}
	}
	wantLeaseLost(t, "release twice", b.Release(ctx(t), ls[0]))
	checkJob(t, b, a1, view{State: store.Pending})
	for _, st := range []store.State{store.Absent, store.Completed, "bogus"} {
		if err := b.SetState(ctx(t), a2, st, "x"); err == nil {
			t.Fatalf("set state %q: no error", st)
		}
	}
	checkJob(t, b, a2, view{State: store.Skipped, Outcome: "skipped by hand"})
}

func (s suite) testGetAbsent(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("a", "2", 100))
	jobs := getJobs(t, b, ref("a", "1"), ref("a", "2"), ref("b", "2"), ref("a", "1"))
	got := []store.State{jobs[0].State, jobs[1].State, jobs[2].State, jobs[3].State}
	if want := []store.State{store.Absent, store.Pending, store.Absent, store.Absent}; !reflect.DeepEqual(got, want) {
		t.Fatalf("get: %v, want %v", got, want)
	}
	if jobs := getJobs(t, b); len(jobs) != 0 {
		t.Fatalf("get nothing: %v", jobs)
	}
}

func (s suite) testListCount(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("a", "1", 100), item("a", "2", 100), item("a", "3", 100),
		item("a", "4", 100), item("a", "5", 100), item("a", "6", 100), item("a", "7", 100),
		item("b", "1", 100))
	completeRef(t, b, ref("a", "4"))
	completeRef(t, b, ref("a", "5"))
	setState(t, b, ref("a", "6"), store.Failed, "")
	setState(t, b, ref("a", "7"), store.Skipped, "")
	claimOne(t, b, "a", longLease)
	acquire(t, b, ref("a", "8"), "x", longLease)
	list := func(st store.State) map[string]store.State {
		got := map[string]store.State{}
		err := b.List(ctx(t), "a", st, func(j store.Job) error {
			if j.App != "a" || got[j.JobID] != "" {
				t.Fatalf("list %q: %+v", st, j)
			}
			got[j.JobID] = j.State
			return nil
		})
		if err != nil {
			t.Fatalf("list %q: %v", st, err)
		}
		return got
	}
	p, c, f, sk := store.Pending, store.Completed, store.Failed, store.Skipped
	if got, want := list(store.Absent), map[string]store.State{"1": p, "2": p, "3": p, "4": c, "5": c, "6": f, "7": sk, "8": p}; !reflect.DeepEqual(got, want) {
		t.Fatalf("list: %v, want %v", got, want)
	}
	if got, want := list(c), map[string]store.State{"4": c, "5": c}; !reflect.DeepEqual(got, want) {
		t.Fatalf("list completed: %v, want %v", got, want)
	}
	stop := errors.New("stop")
	n := 0
	err := b.List(ctx(t), "a", store.Absent, func(store.Job) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("list stopped by fn: %v after %d calls", err, n)
	}
	if got := list(""); len(got) != 8 {
		t.Fatalf("list: %d jobs", len(got))
	}
	checkCounts(t, b, "a", counts{Pending: 4, Completed: 2, Failed: 1, Skipped: 1, Queued: 3, Claimed: 2})
	checkCounts(t, b, "b", counts{Pending: 1, Queued: 1})
	checkCounts(t, b, "none", counts{})
}

// testNamespaces: two namespaces of one backend share nothing.
func (s suite) testNamespaces(t *testing.T) {
	b1, _ := s.open(t)
	b2, _ := s.open(t)
	submit(t, b1, item("a", "1", 100))
	checkJob(t, b2, ref("a", "1"), view{})
	checkCounts(t, b2, "a", counts{})
	if r := claim(t, b2, "a", 1, longLease); len(r.Leases) != 0 {
		t.Fatalf("claim in other namespace: %v", ids(r.Leases))
	}
	if res := submit(t, b2, item("a", "1", 5)); res[0] != store.Created {
		t.Fatalf("submit in other namespace: %v", res[0])
	}
	checkJob(t, b1, ref("a", "1"), pendingQueued(100))
}

// counts is Counts flattened, for exact comparison.
type counts struct {
	Pending, Completed, Failed, Skipped, Queued, Claimed int
}

func checkCounts(t *testing.T, b store.Backend, app string, want counts) {
	t.Helper()
	c, err := b.Count(ctx(t), app)
	if err != nil {
		t.Fatalf("count %s: %v", app, err)
	}
	got := counts{
		Pending: c.States[store.Pending], Completed: c.States[store.Completed],
		Failed: c.States[store.Failed], Skipped: c.States[store.Skipped],
		Queued: c.Queued, Claimed: c.Claimed,
	}
	for st, n := range c.States {
		switch st {
		case store.Pending, store.Completed, store.Failed, store.Skipped:
		default:
			t.Fatalf("count %s: state %q: %d", app, st, n)
		}
	}
	if got != want {
		t.Fatalf("count %s: %+v, want %+v", app, got, want)
	}
}

// testParkAbove: Park checks the parents it is given and queues the
// ancestors above it is given instead (bubble-up in one step): absent ones
// are created queued (or skipped) with the child's priority, idle pending
// ones are queued, others are left alone, and so is a parent not named
// above. A ready child changes nothing above.
func (s suite) testParkAbove(t *testing.T) {
	b, _ := s.open(t)
	p, q, g, sk := ref("p", "1"), ref("q", "1"), ref("g", "1"), ref("g", "skip")
	h, k, m := ref("g", "idle"), ref("g", "done"), ref("g", "held")
	submit(t, b, item("c", "1", 15), item("q", "1", 100), item("g", "done", 100))
	completeRef(t, b, q)
	completeRef(t, b, k)
	if err := b.Release(ctx(t), acquire(t, b, h, "x", longLease)); err != nil {
		t.Fatalf("release: %v", err)
	}
	acquire(t, b, m, "x", longLease)
	l := claimOne(t, b, "c", longLease)
	above := []store.Node{{Ref: g}, {Ref: sk, Skip: true}, {Ref: h}, {Ref: k}, {Ref: m}}
	res, err := b.Park(ctx(t), l, []store.Ref{p, q}, above)
	if err != nil {
		t.Fatalf("park: %v", err)
	}
	if res.Ready || len(res.Parents) != 2 || res.Parents[0].Ref != p || res.Parents[0].State != store.Absent ||
		res.Parents[1].Ref != q || res.Parents[1].State != store.Completed {
		t.Fatalf("park: %+v", res)
	}
	checkJobs(t, b, map[store.Ref]view{
		l.Ref: {State: store.Pending},
		p:     {},
		g:     pendingQueued(15),
		sk:    {State: store.Skipped},
		h:     pendingQueued(15),
		k:     {State: store.Completed, Outcome: "exit 0"},
		m:     {State: store.Pending, Owner: "x"},
	})
	checkCountsList(t, b, "park above", counts{Pending: 3, Completed: 1, Skipped: 1, Queued: 2, Claimed: 1}, "g", "c", "p", "q")

	// Ready: nothing above is touched.
	submit(t, b, item("c", "2", 100))
	l2 := claimOne(t, b, "c", longLease)
	x := ref("g", "x")
	if res, err := b.Park(ctx(t), l2, []store.Ref{q}, []store.Node{{Ref: x}}); err != nil || !res.Ready {
		t.Fatalf("park with completed parents: %+v %v", res, err)
	}
	checkJobs(t, b, map[store.Ref]view{x: {}, l2.Ref: {State: store.Pending, Queued: true, Priority: 100, Owner: "w1"}})
}
