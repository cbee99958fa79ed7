package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Readds in bounded steps (store.SubmitItem, DESIGN.md section 6, "Readd
// in bounded steps").

// readdOf is the readd of r resetting reset.
func readdOf(r store.Ref, prio int, reset []store.Ref) store.SubmitItem {
	return store.SubmitItem{Node: store.Node{Ref: r}, Priority: prio, Readd: true, Reset: reset}
}

// fannedOut submits p and completes it with n children of app c, which
// are then pending and queued; it returns their refs.
func fannedOut(t *testing.T, b store.Backend, p store.Ref, n int) []store.Ref {
	t.Helper()
	submit(t, b, item(p.App, p.JobID, 100))
	if err := b.Complete(longCtx(t), claimOne(t, b, p.App, longLease), "exit 0", childrenOf(p, "c", n)); err != nil {
		t.Fatalf("complete with %d children: %v", n, err)
	}
	return refsOf("c", n)
}

// testReaddWide: the readd of a job with 100,000 descendants resets them
// all, in steps of at most store.Batch, and leaves no marker.
func (s suite) testReaddWide(t *testing.T) {
	b, _ := s.open(t)
	const n = 100000
	p := ref("p", "1")
	desc := fannedOut(t, b, p, n)
	held := claim(t, b, "c", 2, longLease).Leases
	complete(t, b, claimOne(t, b, "c", longLease))
	var dones []int
	hook := store.WithStepHook(longCtx(t), func(job store.Ref, done int) error {
		if job != p {
			t.Errorf("step hook: job %v, want %v", job, p)
		}
		dones = append(dones, done)
		return nil
	})
	res, err := b.Submit(hook, []store.SubmitItem{readdOf(p, 5, desc)})
	if err != nil || !reflect.DeepEqual(res, []store.SubmitResult{store.Requeued}) {
		t.Fatalf("readd with %d descendants: %v %v, want [Requeued]", n, res, err)
	}
	if len(dones) < n/store.Batch || dones[0] != 0 {
		t.Fatalf("%d steps after the first, from %v, want at least %d from 0", len(dones), dones[:min(len(dones), 3)], n/store.Batch)
	}
	for i := 1; i < len(dones); i++ {
		if d := dones[i] - dones[i-1]; d < 1 || d > store.Batch {
			t.Fatalf("step %d reset %d descendants (from %d), want 1 to %d", i, d, dones[i-1], store.Batch)
		}
	}
	checkJob(t, b, p, view{State: store.Pending, Queued: true, Priority: 5, Outcome: "exit 0"})
	checkCounts(t, b, "c", counts{Pending: n, Queued: len(held), Claimed: len(held)})
	for _, l := range held {
		checkJob(t, b, l.Ref, view{State: store.Pending, Queued: true, Priority: 100, Owner: "w1", Revoked: true})
	}
	if ms, err := b.Unfinished(ctx(t), 0, 10); err != nil || len(ms) != 0 {
		t.Errorf("unfinished after a finished readd: %v %v, want none", ms, err)
	}
}

// testReaddKilled: a process dies between two steps of a big readd: the
// job is queued again (once), it cannot be completed while the marker is
// there, the marker is listed once idle and is no bubble-down's, and two
// processes resuming it at once reset every other descendant.
func (s suite) testReaddKilled(t *testing.T) {
	b, spec := s.open(t)
	const n = 3 * store.Batch
	p := ref("p", "1")
	desc := fannedOut(t, b, p, n)
	held := claimOne(t, b, "c", longLease)
	killed := errors.New("killed")
	hook := store.WithStepHook(ctx(t), func(job store.Ref, done int) error {
		if done > 0 {
			return killed
		}
		return nil
	})
	res, err := b.Submit(hook, []store.SubmitItem{readdOf(p, 100, desc)})
	if !errors.Is(err, killed) || !errors.Is(err, store.ErrReaddUnfinished) || !reflect.DeepEqual(res, []store.SubmitResult{store.Requeued}) {
		t.Fatalf("readd killed after its second step: %v %v, want [Requeued] killed and store.ErrReaddUnfinished", res, err)
	}
	checkCounts(t, b, "p", counts{Pending: 1, Queued: 1})
	cnt, err := b.Count(ctx(t), "c")
	if err != nil {
		t.Fatal(err)
	}
	if left := cnt.Queued; left < 2 || left >= n {
		t.Fatalf("%d descendants queued after the first steps, want some but not all of %d", left, n)
	}

	// The job runs again meanwhile: its completion waits for the readd.
	l := claimOne(t, b, "p", longLease)
	if err := b.Complete(ctx(t), l, "exit 0", childrenOf(p, "c", n)); !errors.Is(err, store.ErrResetting) {
		t.Fatalf("complete during the readd: %v, want store.ErrResetting", err)
	}
	for _, a := range getHistory(t, b, p) {
		if a.Seq == l.Seq {
			t.Fatalf("a refused completion left the record of attempt %d: %+v", l.Seq, a)
		}
	}
	checkJob(t, b, p, view{State: store.Pending, Queued: true, Priority: 100, Owner: "w1", Outcome: "exit 0"})
	if ms, err := b.Unfinished(ctx(t), time.Hour, 10); err != nil || len(ms) != 0 {
		t.Fatalf("unfinished for an hour: %v %v, want none", ms, err)
	}
	want := []store.Marker{{Ref: p, Readd: true}}
	if ms, err := b.Unfinished(ctx(t), 0, 10); err != nil || !reflect.DeepEqual(ms, want) {
		t.Fatalf("unfinished: %v %v, want %v", ms, err, want)
	}
	if err := b.Resume(ctx(t), p, childrenOf(p, "c", n)); err != nil {
		t.Fatalf("resume of a readd's marker as a bubble-down: %v", err)
	}
	if ms, err := b.Unfinished(ctx(t), 0, 10); err != nil || !reflect.DeepEqual(ms, want) {
		t.Fatalf("unfinished after a bubble-down's resume: %v %v, want %v", ms, err, want)
	}

	b2 := s.openSpec(t, spec)
	together(t, "resume readd", b, b2, func(bk store.Backend) error { return bk.ResumeReadd(ctx(t), p, desc) })
	checkCounts(t, b, "c", counts{Pending: n, Queued: 1, Claimed: 1})
	checkJob(t, b, held.Ref, view{State: store.Pending, Queued: true, Priority: 100, Owner: "w1", Revoked: true})
	if ms, err := b.Unfinished(ctx(t), 0, 10); err != nil || len(ms) != 0 {
		t.Fatalf("unfinished after resume: %v %v, want none", ms, err)
	}
	if err := b.ResumeReadd(ctx(t), p, desc); err != nil {
		t.Fatalf("resume of a finished readd: %v", err)
	}

	// Now the job's run completes, and queues every descendant again.
	complete(t, b, l, childrenOf(p, "c", n)...)
	checkCounts(t, b, "p", counts{Completed: 1})
	checkCounts(t, b, "c", counts{Pending: n, Queued: n, Claimed: 1})
}

// BenchReadd measures the readd of a job with n descendants on be, a
// fresh namespace: the job's completion queues n children, and each
// iteration readds it (resetting them all). setup, if not nil, runs
// between the setup and the timed readds.
func BenchReadd(b *testing.B, be store.Backend, n int, setup func()) {
	c := context.Background()
	p := ref("p", "1")
	if _, err := be.Submit(c, []store.SubmitItem{item(p.App, p.JobID, 100)}); err != nil {
		b.Fatal(err)
	}
	if err := be.Complete(c, store.Lease{Ref: p}, "exit 0", childrenOf(p, "c", n)); err != nil {
		b.Fatal(err)
	}
	reset := refsOf("c", n)
	if setup != nil {
		setup()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := be.Submit(c, []store.SubmitItem{readdOf(p, 100, reset)}); err != nil {
			b.Fatal(err)
		}
	}
}
