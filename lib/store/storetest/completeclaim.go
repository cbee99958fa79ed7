package storetest

import (
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// testCompleteClaim: CompleteClaim is Complete and then Claim. The job is
// completed with bubble-down and the next one claimed; a completion that
// fails (lost lease, bad child) is reported as Complete reports it,
// changes nothing, and the claim is made all the same; a bad claim request
// is reported and the completion is made all the same.
func (s suite) testCompleteClaim(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("a", "1", 30), item("a", "2", 30), item("a", "3", 30))
	l1 := claimOne(t, b, "a", longLease)
	cc := func(l store.Lease, kids []store.Child, req store.ClaimRequest) (store.ClaimResult, error, error) {
		t.Helper()
		before := time.Now()
		res, done, err := store.CompleteClaim(ctx(t), b, l, "exit 0", kids, req)
		after := time.Now()
		for _, nl := range res.Leases {
			if nl.App != req.App || nl.Owner != req.Owner || nl.Token == "" {
				t.Fatalf("complete-claim %+v: bad lease %+v", req, nl)
			}
			checkUntil(t, "complete-claim lease", nl.Until, before, after, req.Lease)
		}
		return res, done, err
	}

	res, done, err := cc(l1, []store.Child{child(ref("b", "1"), l1.Ref)}, claimReq("a", "w2", 1, longLease))
	if done != nil || err != nil || len(res.Leases) != 1 || res.Leases[0].JobID != "2" {
		t.Fatalf("complete a/1, claim: %+v, %v, %v; want a/2 claimed", res, done, err)
	}
	l2 := res.Leases[0]
	checkJobs(t, b, map[store.Ref]view{
		ref("a", "1"): {State: store.Completed, Outcome: "exit 0"},
		ref("a", "2"): {State: store.Pending, Queued: true, Priority: 30, Owner: "w2"},
		ref("b", "1"): pendingQueued(30),
	})

	// Completing a/1 again: its lease is lost; a/3 is claimed all the same.
	res, done, err = cc(l1, nil, claimReq("a", "w3", 1, longLease))
	wantLeaseLost(t, "complete-claim with a used lease", done)
	if err != nil || len(res.Leases) != 1 || res.Leases[0].JobID != "3" {
		t.Fatalf("claim after a lost completion: %+v, %v; want a/3", res, err)
	}
	l3 := res.Leases[0]

	// Nothing left to claim: a/2 is completed, no lease comes back, and
	// Next is a/3's lease end.
	res, done, err = cc(l2, nil, claimReq("a", "w2", 1, longLease))
	if done != nil || err != nil || len(res.Leases) != 0 {
		t.Fatalf("complete a/2 on an empty queue: %+v, %v, %v", res, done, err)
	}
	if !near(res.Next, l3.Until) {
		t.Fatalf("complete a/2 on an empty queue: next %v, want a/3's lease end %v", res.Next, l3.Until)
	}

	// A bad claim request is an error; the completion is made.
	_, done, err = cc(l3, nil, store.ClaimRequest{App: "a", N: 1, Lease: longLease})
	if done != nil || err == nil {
		t.Fatalf("complete a/3 with a claim without owner: %v, %v; want nil, an error", done, err)
	}

	// A bad child fails the completion, which changes nothing; the claim
	// is made.
	submit(t, b, item("a", "4", 30), item("a", "5", 30))
	l4 := claimOne(t, b, "a", longLease)
	res, done, err = cc(l4, []store.Child{child(ref("b", ""), l4.Ref)}, claimReq("a", "w5", 1, longLease))
	if done == nil || err != nil || len(res.Leases) != 1 || res.Leases[0].JobID != "5" {
		t.Fatalf("complete a/4 with a bad child, claim: %+v, %v, %v; want an error, a/5 claimed", res, done, err)
	}
	checkJobs(t, b, map[store.Ref]view{
		ref("a", "2"): {State: store.Completed, Outcome: "exit 0"},
		ref("a", "3"): {State: store.Completed, Outcome: "exit 0"},
		ref("a", "4"): {State: store.Pending, Queued: true, Priority: 30, Owner: "w1"},
		ref("b", "1"): pendingQueued(30),
	})
}

// testFencingElsewhere: a lease is lost when another instance (another
// process) changes its job, whatever the holder remembers of the job from
// its own writes, including a readd of the claimed job (which revokes the
// lease); a revoked lease is released from the instance that held it.
func (s suite) testFencingElsewhere(t *testing.T) {
	a, spec := s.open(t)
	b := s.openSpec(t, spec)
	submit(t, a, item("q", "1", 100), item("q", "2", 100), item("q", "3", 100), item("q", "4", 100), item("q", "5", 100))

	l1 := claimOne(t, a, "q", longLease)
	setState(t, b, l1.Ref, store.Failed, "stopped")
	wantLeaseLost(t, "complete a job failed elsewhere", a.Complete(ctx(t), l1, "exit 0", nil))
	checkJob(t, a, l1.Ref, view{State: store.Failed, Owner: "w1", Revoked: true, Outcome: "stopped"})

	l2 := claimOne(t, a, "q", longLease)
	l2, err := a.Renew(ctx(t), l2, longLease)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	setState(t, b, l2.Ref, store.Skipped, "")
	_, err = a.Renew(ctx(t), l2, longLease)
	wantLeaseLost(t, "renew a job skipped elsewhere", err)
	_, err = a.Fail(ctx(t), l2, "exit 1", 5, 0)
	wantLeaseLost(t, "fail a job skipped elsewhere", err)
	if err := a.Release(ctx(t), l2); err != nil {
		t.Fatalf("release a lease revoked elsewhere: %v", err)
	}
	checkJob(t, a, l2.Ref, view{State: store.Skipped})

	l3 := claimOne(t, a, "q", longLease)
	if _, err := b.Submit(ctx(t), []store.SubmitItem{{Node: node("q", l3.JobID), Priority: 100, Readd: true}}); err != nil {
		t.Fatalf("readd elsewhere: %v", err)
	}
	wantLeaseLost(t, "complete a job readded elsewhere", a.Complete(ctx(t), l3, "exit 0", nil))
	if err := a.Release(ctx(t), l3); err != nil {
		t.Fatalf("release a lease revoked elsewhere: %v", err)
	}
	complete(t, a, claimOne(t, a, "q", longLease))
	checkJob(t, a, l3.Ref, view{State: store.Completed, Outcome: "exit 0"})

	l4 := claimOne(t, a, "q", longLease)
	setState(t, b, l4.Ref, store.Failed, "stopped")
	res, done, err := store.CompleteClaim(ctx(t), a, l4, "exit 0", nil, claimReq("q", "w1", 1, longLease))
	wantLeaseLost(t, "complete-claim a job failed elsewhere", done)
	if err != nil || len(res.Leases) != 1 || res.Leases[0].JobID != "5" {
		t.Fatalf("claim after a job failed elsewhere: %+v, %v; want q/5", res, err)
	}
	checkJobs(t, a, map[store.Ref]view{
		l4.Ref:        {State: store.Failed, Owner: "w1", Revoked: true, Outcome: "stopped"},
		ref("q", "5"): {State: store.Pending, Queued: true, Priority: 100, Owner: "w1"},
	})
}

// testClaimParents: a claim asked for its jobs' parents returns them as
// Get would (when the backend reads them with the claim at all), does not
// depend on them, and changes none of them.
func (s suite) testClaimParents(t *testing.T) {
	b, _ := s.open(t)
	p1, p2, p3 := ref("p", "1"), ref("p", "2"), ref("p", "3")
	submit(t, b, item("p", "1", 100), item("p", "2", 100), item("c", "1", 100), item("c", "2", 100))
	completeRef(t, b, p2)
	parents := func(r store.Ref) []store.Ref {
		if r.App != "c" {
			t.Errorf("parents asked of %v", r)
		}
		return []store.Ref{p1, p2, p3}
	}
	check := func(what string, l store.Lease) {
		t.Helper()
		if l.Parents == nil {
			return // not read with the claim
		}
		want := getJobs(t, b, p1, p2, p3)
		if len(l.Parents) != len(want) {
			t.Fatalf("%s: %d parents, want %d", what, len(l.Parents), len(want))
		}
		for i, j := range l.Parents {
			if j.Ref != want[i].Ref || viewOf(j) != viewOf(want[i]) {
				t.Errorf("%s: parent %d is %v %+v, want %v %+v", what, i, j.Ref, viewOf(j), want[i].Ref, viewOf(want[i]))
			}
		}
	}
	req := claimReq("c", "w1", 1, longLease)
	req.Parents = parents
	res, err := b.Claim(ctx(t), req)
	if err != nil || len(res.Leases) != 1 || res.Leases[0].JobID != "1" {
		t.Fatalf("claim c with parents: %+v, %v", res, err)
	}
	check("claim", res.Leases[0])
	res, done, err := store.CompleteClaim(ctx(t), b, res.Leases[0], "exit 0", nil, req)
	if done != nil || err != nil || len(res.Leases) != 1 || res.Leases[0].JobID != "2" {
		t.Fatalf("complete-claim c with parents: %+v, %v, %v", res, done, err)
	}
	check("complete-claim", res.Leases[0])
	checkJobs(t, b, map[store.Ref]view{
		p1: pendingQueued(100),
		p2: {State: store.Completed, Outcome: "exit 0"},
		p3: {},
	})
}
