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
		res, done, err := b.CompleteClaim(ctx(t), l, "exit 0", kids, req)
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
