package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// listCounts counts an app's jobs the slow way, from List: what Count,
// which backends keep up to date as jobs change, must say.
func listCounts(t *testing.T, b store.Backend, app string) counts {
	t.Helper()
	var c counts
	now := time.Now()
	err := b.List(ctx(t), app, store.Absent, func(j store.Job) error {
		switch j.State {
		case store.Pending:
			c.Pending++
		case store.Completed:
			c.Completed++
		case store.Failed:
			c.Failed++
		case store.Skipped:
			c.Skipped++
		default:
			return fmt.Errorf("job %v in state %q", j.Ref, j.State)
		}
		if j.Queued {
			c.Queued++
		}
		if j.Claimed(now) {
			c.Claimed++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", app, err)
	}
	return c
}

// checkCountsList checks Count against List for each app, and against
// want for the first.
func checkCountsList(t *testing.T, b store.Backend, step string, want counts, apps ...string) {
	t.Helper()
	for i, app := range apps {
		got := listCounts(t, b, app)
		if i == 0 && got != want {
			t.Fatalf("%s: list %s: %+v, want %+v", step, app, got, want)
		}
		c, err := b.Count(ctx(t), app)
		if err != nil {
			t.Fatalf("%s: count %s: %v", step, app, err)
		}
		cnt := counts{
			Pending: c.States[store.Pending], Completed: c.States[store.Completed],
			Failed: c.States[store.Failed], Skipped: c.States[store.Skipped],
			Queued: c.Queued, Claimed: c.Claimed,
		}
		if cnt != got {
			t.Fatalf("%s: count %s: %+v, but list says %+v", step, app, cnt, got)
		}
	}
}

// testCountTransitions: Count follows every transition of every job, as
// List sees the jobs: submit (new, skipped, existing, readd with resets),
// claim (of pending jobs and of stale entries), acquire, release, renew,
// complete (with and without a lease, with children created, queued or
// skipped), CompleteClaim, fail (retried and final), park, setstate, and a
// lease that expires.
func (s suite) testCountTransitions(t *testing.T) {
	b, _ := s.open(t)
	p, c := "p", "c"
	chk := func(step string, want counts) {
		t.Helper()
		checkCountsList(t, b, step, want, p, c)
	}
	chk("empty", counts{})
	sk := item(p, "3", 100)
	sk.Skip = true
	submit(t, b, item(p, "1", 100), item(p, "2", 100), sk)
	chk("submit", counts{Pending: 2, Skipped: 1, Queued: 2})
	readd := item(p, "1", 100)
	readd.Readd = true
	submit(t, b, item(p, "2", 100), readd)
	chk("submit existing, readd queued", counts{Pending: 2, Skipped: 1, Queued: 2})

	r := claim(t, b, p, 2, longLease)
	if len(r.Leases) != 2 {
		t.Fatalf("claim 2: %v", ids(r.Leases))
	}
	l1, l2 := r.Leases[0], r.Leases[1]
	chk("claim", counts{Pending: 2, Skipped: 1, Queued: 2, Claimed: 2})
	l1, err := b.Renew(ctx(t), l1, longLease)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	chk("renew", counts{Pending: 2, Skipped: 1, Queued: 2, Claimed: 2})
	complete(t, b, l1, child(ref(c, "1"), ref(p, "1"), ref(p, "2")))
	chk("complete, child not ready", counts{Pending: 1, Completed: 1, Skipped: 1, Queued: 1, Claimed: 1})
	if fail(t, b, l2, "exit 1", 3, 0) {
		t.Fatal("fail 1 of 3: final")
	}
	chk("fail, retried", counts{Pending: 1, Completed: 1, Skipped: 1, Queued: 1})
	l2 = claimOne(t, b, p, longLease)
	skipped := child(ref(c, "2"), ref(p, "2"))
	skipped.Skip = true
	complete(t, b, l2, child(ref(c, "1"), ref(p, "1"), ref(p, "2")), skipped)
	chk("complete, children created", counts{Completed: 2, Skipped: 1})
	checkCountsList(t, b, "complete, children created", counts{Pending: 1, Skipped: 1, Queued: 1}, c)

	l3 := acquire(t, b, ref(c, "3"), "w2", longLease)
	checkCountsList(t, b, "acquire absent", counts{Pending: 2, Skipped: 1, Queued: 1, Claimed: 1}, c)
	if err := b.Release(ctx(t), l3); err != nil {
		t.Fatalf("release: %v", err)
	}
	checkCountsList(t, b, "release", counts{Pending: 2, Skipped: 1, Queued: 1}, c)

	lc := claimOne(t, b, c, longLease)
	pr, err := parkNodes(ctx(t), b, lc, []store.Node{node(p, "1"), node(p, "4")})
	if err != nil || pr.Ready {
		t.Fatalf("park: %+v %v, want not ready", pr, err)
	}
	chk("park", counts{Pending: 1, Completed: 2, Skipped: 1, Queued: 1})
	checkCountsList(t, b, "park", counts{Pending: 2, Skipped: 1}, c)

	setState(t, b, ref(p, "4"), store.Failed, "given up")
	chk("set failed", counts{Completed: 2, Failed: 1, Skipped: 1})
	setState(t, b, ref(p, "4"), store.Pending, "again")
	setState(t, b, ref(c, "2"), store.Pending, "")
	chk("set pending", counts{Pending: 1, Completed: 2, Skipped: 1})
	checkCountsList(t, b, "set pending", counts{Pending: 3}, c)
	completeRef(t, b, ref(p, "4"))
	chk("complete without lease", counts{Completed: 3, Skipped: 1})

	l4 := acquire(t, b, ref(c, "3"), "w2", longLease)
	readd = item(p, "1", 100)
	readd.Readd, readd.Reset = true, []store.Ref{ref(c, "1"), ref(c, "2"), ref(c, "3"), ref(c, "9")}
	submit(t, b, readd)
	chk("readd with resets", counts{Pending: 1, Completed: 2, Skipped: 1, Queued: 1})
	checkCountsList(t, b, "readd with resets", counts{Pending: 3, Claimed: 1}, c)
	// The reset descendant's lease is revoked: claimed until its holder
	// releases it.
	_, err = b.Fail(ctx(t), l4, "exit 2", 1, 0)
	wantLeaseLost(t, "fail under a revoked lease", err)
	if err := b.Release(ctx(t), l4); err != nil {
		t.Fatalf("release a revoked lease: %v", err)
	}
	checkCountsList(t, b, "release a revoked lease", counts{Pending: 3}, c)

	lp := claimOne(t, b, p, longLease)
	setState(t, b, lp.Ref, store.Skipped, "")
	chk("set skipped while claimed", counts{Completed: 2, Skipped: 2, Claimed: 1})
	if err := b.Release(ctx(t), lp); err != nil {
		t.Fatalf("release a revoked lease: %v", err)
	}
	chk("release a revoked lease", counts{Completed: 2, Skipped: 2})
	submit(t, b, item(p, "5", 100), item(p, "6", 100))
	lp5 := claimOne(t, b, p, longLease)
	res, done, err := store.CompleteClaim(ctx(t), b, lp5, "exit 0", []store.Child{child(ref(c, "5"), ref(p, "5"))}, claimReq(p, "w3", 1, shortLease))
	if err != nil || done != nil || len(res.Leases) != 1 {
		t.Fatalf("complete and claim: %v %v %v", ids(res.Leases), done, err)
	}
	// (The lease is short, so that the backend may be slow: it is
	// counted once it expired.)
	waitPast(t, res.Leases[0].Until)
	checkCountsList(t, b, "complete and claim", counts{Pending: 4, Queued: 1}, c)
	chk("complete and claim, lease expired", counts{Pending: 1, Completed: 3, Skipped: 2, Queued: 1})
	if err := b.Complete(ctx(t), res.Leases[0], "exit 0", nil); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("complete with an expired lease: %v, want %v", err, store.ErrLeaseLost)
	}
	chk("complete with an expired lease", counts{Pending: 1, Completed: 3, Skipped: 2, Queued: 1})
}

// testCountConcurrent: Count agrees with List after several instances
// (processes' worth of backends on one namespace) changed jobs at once.
func (s suite) testCountConcurrent(t *testing.T) {
	b, spec := s.open(t)
	const workers, jobs = 4, 40
	var items []store.SubmitItem
	for i := range jobs {
		items = append(items, item("p", fmt.Sprint(i), 100))
	}
	submit(t, b, items...)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		bw := s.openSpec(t, spec)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				r, err := bw.Claim(ctx(t), claimReq("p", fmt.Sprint("w", w), 1, longLease))
				if err != nil {
					errs <- err
					return
				}
				if len(r.Leases) == 0 {
					return
				}
				l := r.Leases[0]
				switch rnd.IntN(3) {
				case 0:
					_, err = bw.Fail(ctx(t), l, "exit 1", 2, 0)
				default:
					err = bw.Complete(ctx(t), l, "exit 0", []store.Child{child(ref("c", l.JobID), l.Ref)})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := listCounts(t, b, "p")
	if got.Completed+got.Failed != jobs || got.Pending != 0 || got.Queued != 0 {
		t.Fatalf("after the workers: %+v, want %d completed or failed", got, jobs)
	}
	checkCountsList(t, b, "after the workers", got, "p", "c")
}

// testCountHeadAge: Count.HeadAge is how long the head of the queue of
// waiting entries has been queued: zero with none; the first job
// submitted, not the last, while it waits; the next once it is claimed; a
// job queued again after a failure, since then; zero again with every
// entry claimed.
func (s suite) testCountHeadAge(t *testing.T) {
	b, _ := s.open(t)
	const app = "h"
	// The backends' clocks are this machine's wall clock, read to the
	// millisecond (ZooKeeper) or from a time the server cached a little
	// earlier (Redis: up to a millisecond or so seen under load); so the
	// bounds are read from the wall clock too (wall), not from the
	// monotonic one, give or take tick.
	const tick = 10 * time.Millisecond
	wall := func() time.Time { return time.Now().Round(0) }
	between := func(step string, lo, hi time.Duration) {
		t.Helper()
		c, err := b.Count(ctx(t), app)
		if err != nil {
			t.Fatalf("%s: count: %v", step, err)
		}
		if c.HeadAge < lo || c.HeadAge > hi {
			t.Fatalf("%s: head age %v, want %v to %v", step, c.HeadAge, lo, hi)
		}
	}
	// pass waits until the clock has moved d past t0.
	pass := func(t0 time.Time, d time.Duration) {
		for wall().Sub(t0) < d {
			time.Sleep(time.Millisecond)
		}
	}
	const gap = 200 * time.Millisecond

	between("no job", 0, 0)
	t0 := wall()
	submit(t, b, item(app, "1", 100))
	pass(wall(), gap) // job 1 was queued at least gap ago
	t1 := wall()
	submit(t, b, item(app, "2", 100))
	after := wall()
	between("two queued", gap-tick, wall().Sub(t0)+tick)

	l := claimOne(t, b, app, longLease)
	if l.JobID != "1" {
		t.Fatalf("claim: %v, want job 1", l.Ref)
	}
	pass(after, gap)
	between("first claimed", gap-tick, wall().Sub(t1)+tick)

	t2 := wall()
	if fail(t, b, l, "exit 1", 3, 0) {
		t.Fatal("fail 1 of 3: final")
	}
	l2 := claimOne(t, b, app, longLease)
	if l2.JobID != "2" {
		t.Fatalf("claim: %v, want job 2", l2.Ref)
	}
	between("second claimed, first queued again", 0, wall().Sub(t2)+tick)

	claimOne(t, b, app, longLease)
	between("every entry claimed", 0, 0)
}
