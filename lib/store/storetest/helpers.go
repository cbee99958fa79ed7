package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// longLease is a lease that never expires during a test: as long as the
// longest test may take (longCtx), so that a wide test on a loaded machine
// (ReaddWide took 4 minutes at load 40) does not outlive it.
const longLease = 10 * time.Minute

// shortLease is a lease a test waits out as soon as it has it. A lease that
// must hold for a few calls before it runs out is taken for longLease and
// ended by expire; one that cannot be renewed (revoked) is taken for held.
const shortLease = 150 * time.Millisecond

// held is a lease or delay that must outlast a few backend calls before
// the test waits it out: on a loaded machine (load 20 to 50 on 2 cores) a
// call can take longer than shortLease, which ended such leases early.
const held = 3 * time.Second

// deadline bounds every wait on a condition: generously, as it only ends a
// wait that is wrong, and a loaded machine makes right ones slow.
const deadline = time.Minute

// tolerance is how far two times may differ when a backend stores them with
// less than nanosecond precision.
const tolerance = time.Millisecond

func ref(app, id string) store.Ref { return store.Ref{App: app, JobID: id} }

func node(app, id string) store.Node { return store.Node{Ref: ref(app, id)} }

func item(app, id string, prio int) store.SubmitItem {
	return store.SubmitItem{Node: node(app, id), Priority: prio}
}

func child(c store.Ref, parents ...store.Ref) store.Child {
	return store.Child{Node: store.Node{Ref: c}, Parents: store.ParentList(parents...)}
}

// parkNodes parks a job as the bubble-up of one level did: the parents
// are checked, and queued if not all are completed.
func parkNodes(c context.Context, b store.Backend, l store.Lease, parents []store.Node) (store.ParkResult, error) {
	refs := make([]store.Ref, len(parents))
	for i, p := range parents {
		refs[i] = p.Ref
	}
	return b.Park(c, l, refs, parents)
}

func submit(t *testing.T, b store.Backend, items ...store.SubmitItem) []store.SubmitResult {
	t.Helper()
	res, err := b.Submit(ctx(t), items)
	if err != nil {
		t.Fatalf("submit %v: %v", items, err)
	}
	if len(res) != len(items) {
		t.Fatalf("submit %d items: %d results", len(items), len(res))
	}
	return res
}

func claimReq(app, owner string, n int, lease time.Duration) store.ClaimRequest {
	return store.ClaimRequest{App: app, Owner: owner, N: n, Lease: lease}
}

func claim(t *testing.T, b store.Backend, app string, n int, lease time.Duration) store.ClaimResult {
	t.Helper()
	return claimAs(t, b, claimReq(app, "w1", n, lease))
}

func claimAs(t *testing.T, b store.Backend, req store.ClaimRequest) store.ClaimResult {
	t.Helper()
	before := time.Now()
	res, err := b.Claim(ctx(t), req)
	if err != nil {
		t.Fatalf("claim %+v: %v", req, err)
	}
	after := time.Now()
	if len(res.Leases) > req.N {
		t.Fatalf("claim %d: got %d leases", req.N, len(res.Leases))
	}
	tokens := map[string]bool{}
	for _, l := range res.Leases {
		if !claimsFrom(req, l.App) || l.Owner != req.Owner || l.Token == "" || tokens[l.Token] {
			t.Fatalf("claim %+v: bad lease %+v", req, l)
		}
		tokens[l.Token] = true
		checkUntil(t, "claim lease", l.Until, before, after, req.Lease)
	}
	return res
}

// claimsFrom says whether req claims from app: its App, or one of its
// Apps.
func claimsFrom(req store.ClaimRequest, app string) bool {
	if len(req.Apps) == 0 {
		return app == req.App
	}
	for _, a := range req.Apps {
		if a.App == app {
			return true
		}
	}
	return false
}

// claimOne claims exactly one job of app and fails the test otherwise.
func claimOne(t *testing.T, b store.Backend, app string, lease time.Duration) store.Lease {
	t.Helper()
	res := claim(t, b, app, 1, lease)
	if len(res.Leases) != 1 {
		t.Fatalf("claim %s: got %d leases, want 1", app, len(res.Leases))
	}
	return res.Leases[0]
}

// claimIDs claims one job at a time until the queue has nothing claimable,
// completing each, and returns the job ids in claim order.
func claimIDs(t *testing.T, b store.Backend, app string) []string {
	t.Helper()
	var ids []string
	for {
		res := claim(t, b, app, 1, longLease)
		if len(res.Leases) == 0 {
			return ids
		}
		ids = append(ids, res.Leases[0].JobID)
		complete(t, b, res.Leases[0])
	}
}

func complete(t *testing.T, b store.Backend, l store.Lease, children ...store.Child) {
	t.Helper()
	if err := b.Complete(ctx(t), l, "exit 0", children); err != nil {
		t.Fatalf("complete %v: %v", l.Ref, err)
	}
}

// completeRef completes a job without a lease (stolos-state -set completed).
func completeRef(t *testing.T, b store.Backend, r store.Ref, children ...store.Child) {
	t.Helper()
	complete(t, b, store.Lease{Ref: r}, children...)
}

func acquire(t *testing.T, b store.Backend, r store.Ref, owner string, d time.Duration) store.Lease {
	t.Helper()
	before := time.Now()
	l, err := b.Acquire(ctx(t), r, owner, d)
	if err != nil {
		t.Fatalf("acquire %v: %v", r, err)
	}
	if l.Ref != r || l.Owner != owner || l.Token == "" {
		t.Fatalf("acquire %v as %s: bad lease %+v", r, owner, l)
	}
	checkUntil(t, "acquire lease", l.Until, before, time.Now(), d)
	return l
}

func fail(t *testing.T, b store.Backend, l store.Lease, outcome string, maxRetry int, delay time.Duration) bool {
	t.Helper()
	final, err := b.Fail(ctx(t), l, outcome, maxRetry, delay)
	if err != nil {
		t.Fatalf("fail %v: %v", l.Ref, err)
	}
	return final
}

func setState(t *testing.T, b store.Backend, r store.Ref, st store.State, outcome string) {
	t.Helper()
	if err := b.SetState(ctx(t), r, st, outcome); err != nil {
		t.Fatalf("set state %v %s: %v", r, st, err)
	}
}

func getJobs(t *testing.T, b store.Backend, refs ...store.Ref) []store.Job {
	t.Helper()
	jobs, err := b.Get(ctx(t), refs)
	if err != nil {
		t.Fatalf("get %v: %v", refs, err)
	}
	if len(jobs) != len(refs) {
		t.Fatalf("get %d refs: %d jobs", len(refs), len(jobs))
	}
	for i, j := range jobs {
		if j.Ref != refs[i] {
			t.Fatalf("get %v: job %d is %v", refs, i, j.Ref)
		}
	}
	return jobs
}

// checkUntil checks that a lease expiry or retry time is d after a moment
// between before and after.
func checkUntil(t *testing.T, what string, got, before, after time.Time, d time.Duration) {
	t.Helper()
	lo, hi := before.Add(d-tolerance), after.Add(d+tolerance)
	if got.Before(lo) || got.After(hi) {
		t.Fatalf("%s: time %v, want between %v and %v", what, got, lo, hi)
	}
}

func near(a, b time.Time) bool {
	d := a.Sub(b)
	return -tolerance <= d && d <= tolerance
}

// view is the part of a job a test asserts exactly.
type view struct {
	State    store.State
	Queued   bool
	Priority int // only while queued
	Owner    string
	Attempts int
	Outcome  string
	Revoked  bool // the lease (Owner) was revoked
}

func viewOf(j store.Job) view {
	v := view{State: j.State, Queued: j.Queued, Attempts: j.Attempts, Outcome: j.Outcome}
	if j.Queued {
		v.Priority = j.Priority
	}
	if j.Claimed(time.Now()) {
		v.Owner, v.Revoked = j.Owner, j.Revoked
	}
	return v
}

func (v view) String() string {
	return fmt.Sprintf("{%s queued=%v prio=%d owner=%q revoked=%v attempts=%d outcome=%q}",
		v.State, v.Queued, v.Priority, v.Owner, v.Revoked, v.Attempts, v.Outcome)
}

// pendingQueued is the view of a job waiting on its queue.
func pendingQueued(prio int) view { return view{State: store.Pending, Queued: true, Priority: prio} }

// checkJobs checks the views of jobs.
func checkJobs(t *testing.T, b store.Backend, want map[store.Ref]view) {
	t.Helper()
	refs := make([]store.Ref, 0, len(want))
	for r := range want {
		refs = append(refs, r)
	}
	sortRefs(refs)
	for _, j := range getJobs(t, b, refs...) {
		if got := viewOf(j); got != want[j.Ref] {
			t.Errorf("job %v: %v, want %v", j.Ref, got, want[j.Ref])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func checkJob(t *testing.T, b store.Backend, r store.Ref, want view) {
	t.Helper()
	checkJobs(t, b, map[store.Ref]view{r: want})
}

func sortRefs(refs []store.Ref) {
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].App != refs[j].App {
			return refs[i].App < refs[j].App
		}
		return refs[i].JobID < refs[j].JobID
	})
}

func wantLeaseLost(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("%s: error %v, want %v", what, err, store.ErrLeaseLost)
	}
}

// waitFor polls cond every few milliseconds until it holds, failing the
// test at the deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %v", what, deadline)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expire makes l run out as the lease of a worker that stopped renewing it
// does: it renews l for shortLease, waits until that has passed, and
// returns the renewed lease (same token, its last Until).
func expire(t *testing.T, b store.Backend, l store.Lease) store.Lease {
	t.Helper()
	nl, err := b.Renew(ctx(t), l, shortLease)
	if err != nil {
		t.Fatalf("renew %v for %v: %v", l.Ref, shortLease, err)
	}
	waitPast(t, nl.Until)
	return nl
}

// waitPast waits until the machine clock is past tm.
func waitPast(t *testing.T, tm time.Time) {
	t.Helper()
	waitFor(t, "clock past "+tm.String(), func() bool { return time.Now().After(tm.Add(2 * tolerance)) })
}

func ids(leases []store.Lease) []string {
	out := make([]string, len(leases))
	for i, l := range leases {
		out[i] = l.JobID
	}
	return out
}

// together runs fn on b1 and b2 at once (two processes finishing the same
// work) and fails the test, naming what, if either fails.
func together(t *testing.T, what string, b1, b2 store.Backend, fn func(store.Backend) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, bk := range []store.Backend{b1, b2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(bk)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("%s: %v, %v", what, errs[0], errs[1])
	}
}
