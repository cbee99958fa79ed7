package zookeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stolos-sched/stolos/lib/store"
)

var (
	_ store.Backend         = (*Backend)(nil)
	_ store.CompleteClaimer = (*Backend)(nil)
)

// submitBatch is how many jobs (items and the descendants they reset) one
// multi-op of Submit names at most (a multi-op must stay under ZooKeeper's
// 1 MB request limit); so is each step of a readd in steps.
const submitBatch = 400

// claimBatch is how many jobs one multi-op of Claim takes at most.
const claimBatch = 200

func ms(d time.Duration) int64 { return d.Milliseconds() }

// Submit queues jobs. Each step of store.SubmitStep of submitBatch jobs is
// one atomic multi-op; a readd in steps goes on in steps of its own.
func (b *Backend) Submit(ctx context.Context, items []store.SubmitItem) ([]store.SubmitResult, error) {
	return store.SubmitInSteps(ctx, items, submitBatch, b.submit, b.readdSteps)
}

// submit queues the items of one step; split: the first step of a readd
// in steps (one item), which resets nothing and leaves the readd marker.
func (b *Backend) submit(ctx context.Context, items []store.SubmitItem, split bool) ([]store.SubmitResult, error) {
	res := make([]store.SubmitResult, len(items))
	err := b.update(ctx, "submit", func(t *txn) error {
		var refs []store.Ref
		for _, it := range items {
			refs = append(refs, it.Ref)
			if !split {
				refs = append(refs, it.Reset...)
			}
		}
		if err := t.load(refs...); err != nil {
			return err
		}
		for i, it := range items {
			if split {
				it.Reset = nil
			}
			x := t.get(it.Ref)
			switch {
			case !x.present && it.Skip:
				t.put(x, jobData{State: store.Skipped, Prio: it.Priority})
				res[i] = store.CreatedSkipped
			case !x.present:
				d := jobData{State: store.Pending}
				if err := t.enqueue(x, &d, it.Priority, 0); err != nil {
					return err
				}
				t.put(x, d)
				res[i] = store.Created
			case !it.Readd:
				res[i] = store.Exists
			default:
				r, err := t.readd(x, it)
				if err != nil {
					return err
				}
				res[i] = r
			}
			if split {
				d := x.cur
				d.Readd = true
				t.put(x, d)
				_, version, _, err := t.b.readMarker(t.ctx, it.Ref)
				if err != nil {
					return err
				}
				t.readdMark(it.Ref, 0, version)
			}
		}
		return nil
	})
	return res, err
}

// readd re-queues an existing job and resets its descendants.
func (t *txn) readd(x *rec, it store.SubmitItem) (store.SubmitResult, error) {
	t.resets(x.ref, it.Reset)
	d := x.cur
	d.revoke(t.now)
	d.Attempts = 0
	if d.Q != "" && d.State == store.Pending {
		t.put(x, d)
		return store.AlreadyQueued, nil
	}
	d.Q, d.NotBefore = "", 0
	if it.Skip {
		d.State = store.Skipped
		t.put(x, d)
		return store.Requeued, nil
	}
	d.State = store.Pending
	var nb int64
	if d.live(t.now) {
		nb = d.Until
	}
	if err := t.enqueue(x, &d, it.Priority, nb); err != nil {
		return 0, err
	}
	t.put(x, d)
	return store.Requeued, nil
}

// resets sets the descendants reset of the readded job (loaded in t) that
// exist pending, not queued unless claimed, with no failed attempts; a
// live lease on one is revoked.
func (t *txn) resets(job store.Ref, reset []store.Ref) {
	for _, r := range reset {
		y := t.get(r)
		if !y.present || r == job {
			continue
		}
		d := y.cur
		d.State, d.NotBefore, d.Attempts = store.Pending, 0, 0
		if !d.live(t.now) {
			d.Q = "" // a claimed one keeps its lease, whose entry it is
		}
		d.revoke(t.now)
		t.put(y, d)
	}
}

// readdMark writes the readd marker of job in t, done descendants reset,
// over the marker of version (a bubble-down's, or a readd's), or made if
// version is -1.
func (t *txn) readdMark(job store.Ref, done int, version int32) {
	t.putMarker(job, markerData{Done: done, At: t.now, Op: t.op, Readd: true}, version)
}

// putMarker writes m as job's marker in t, over the marker of version, or
// made if version is -1.
func (t *txn) putMarker(job store.Ref, m markerData, version int32) {
	path := t.b.p.marker(job)
	data, _ := json.Marshal(m)
	if t.probe == "" {
		t.probe = path
	}
	if version >= 0 {
		t.add(&zk.SetDataRequest{Path: path, Data: data, Version: version})
	} else {
		t.add(&zk.CreateRequest{Path: path, Data: data, Acl: t.b.acl})
		t.dirs = append(t.dirs, t.b.p.bubble())
	}
}

// readdSteps resets the descendants of job from where its readd marker
// says, at most submitBatch per multi-op (fewer while one is too big),
// until the last step removes the marker and the job's flag. done is how
// many the caller knows are reset; with done < 0 (ResumeReadd) it makes
// at least one step, which does nothing without a readd marker.
func (b *Backend) readdSteps(ctx context.Context, job store.Ref, reset []store.Ref, done int) error {
	size := submitBatch
	for first := done < 0; first || done < len(reset); first = false {
		from := max(done, 0)
		err := store.Step(ctx, job, from)
		for err == nil {
			var next int
			err = b.update(ctx, "readd of "+job.String(), func(t *txn) error {
				var err error
				next, err = t.readdStep(job, reset, size)
				return err
			})
			if errors.Is(err, errTooBig) && size > 1 {
				size /= 2
				err = nil
				continue
			}
			if err == nil {
				done = next
			}
			break
		}
		if err != nil {
			return fmt.Errorf("descendants from %d of %d: %w", from, len(reset), err)
		}
	}
	return nil
}

// readdStep is one step of a readd in steps in t: it reads the readd
// marker and resets the next size descendants from its count, and writes
// the marker, or removes it with the job's flag when it resets the last.
// It returns how many are reset then (len(reset) when none is left).
func (t *txn) readdStep(job store.Ref, reset []store.Ref, size int) (int, error) {
	m, version, ok, err := t.b.readMarker(t.ctx, job)
	if err != nil || !ok || !m.Readd {
		return len(reset), err
	}
	lo := min(m.Done, len(reset))
	hi := min(len(reset), lo+size)
	refs := reset[lo:hi]
	if hi == len(reset) {
		refs = append(refs[:len(refs):len(refs)], job)
	}
	if err := t.load(refs...); err != nil {
		return 0, err
	}
	t.resets(job, reset[lo:hi])
	if hi < len(reset) {
		t.readdMark(job, hi, version)
		return hi, nil
	}
	t.add(&zk.DeleteRequest{Path: t.b.p.marker(job), Version: version})
	if x := t.get(job); x.present && x.cur.Readd {
		d := x.cur
		d.Readd = false
		t.put(x, d)
	}
	return hi, nil
}

// ResumeReadd finishes a readd in steps (see store.Backend).
func (b *Backend) ResumeReadd(ctx context.Context, job store.Ref, reset []store.Ref) error {
	if err := b.readdSteps(ctx, job, reset, -1); err != nil {
		return fmt.Errorf("resume readd of %v: %w", job, err)
	}
	return nil
}

// candidate is a claimable queue entry.
type candidate struct {
	q   string // entry name relative to the app's queue
	ref store.Ref
}

// head lists up to want claimable entries of app's queue in order, and the
// earliest time a skipped entry becomes claimable (0 if none). It removes
// the empty queue nodes it meets.
//
// The priorities, like the upper levels, come from a cached listing first;
// only when that finds nothing claimable does it list them afresh, so an
// empty answer is as fresh as the request. A priority created meanwhile by
// another process is seen once its watch event arrives.
func (b *Backend) head(ctx context.Context, app string, now int64, want int) ([]candidate, int64, error) {
	out, next, err := b.walkHead(ctx, app, now, want, false)
	if err != nil || len(out) > 0 {
		return out, next, err
	}
	return b.walkHead(ctx, app, now, want, true)
}

// walkHead is head, with the priorities listed afresh or not.
func (b *Backend) walkHead(ctx context.Context, app string, now int64, want int, fresh bool) ([]candidate, int64, error) {
	var out []candidate
	var next int64
	var walk func(rel string, depth int) error
	walk = func(rel string, depth int) error {
		path := b.p.queue(app)
		if rel != "" {
			path += "/" + rel
		}
		list := b.children
		if depth >= 1 && depth <= 3 || depth == 0 && !fresh {
			list = b.cachedChildren
		}
		names, err := list(ctx, path)
		if err != nil {
			return err
		}
		if len(names) == 0 && depth > 0 {
			// Best effort; a concurrent writer that needs it creates it again.
			if call(ctx, func() error { return b.conn.Delete(path, -1) }) == nil {
				b.mu.Lock()
				delete(b.known, path)
				delete(b.lists, path)
				b.mu.Unlock()
			}
			return nil
		}
		for _, n := range names {
			if len(out) >= want {
				return nil
			}
			child := n
			if rel != "" {
				child = rel + "/" + n
			}
			if depth < 4 {
				if err := walk(child, depth+1); err != nil {
					return err
				}
				continue
			}
			e, err := parseEntry(child)
			if err != nil {
				continue // not ours
			}
			if e.notBefore > now {
				if next == 0 || e.notBefore < next {
					next = e.notBefore
				}
				continue
			}
			out = append(out, candidate{q: child, ref: store.Ref{App: app, JobID: e.jobID}})
		}
		return nil
	}
	err := walk("", 0)
	return out, next, err
}

// Claim takes up to N claimable jobs off an app's queue.
func (b *Backend) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	if len(req.Apps) > 0 {
		return b.claimApps(ctx, req, func(r store.ClaimRequest) (store.ClaimResult, error) { return b.Claim(ctx, r) })
	}
	var res store.ClaimResult
	if err := b.ensureApp(ctx, req.App); err != nil {
		return res, err
	}
	if err := b.checkClock(ctx, req.Lease); err != nil {
		return res, err
	}
	var next int64
	for round := 0; round < 5 && len(res.Leases) < req.N; round++ {
		want := req.N - len(res.Leases)
		cands, nx, err := b.head(ctx, req.App, b.now(), want+4)
		if err != nil {
			return res, err
		}
		next = nx
		if len(cands) == 0 {
			break
		}
		lost := false
		cands = b.spread(cands)
		for len(cands) > 0 && len(res.Leases) < req.N {
			n := min(len(cands), req.N-len(res.Leases), claimBatch)
			got, err := b.claimSome(ctx, req, cands[:n])
			if err != nil {
				return res, err
			}
			res.Limited = got.Limited
			if got.Limited != "" {
				// A limit is full: the rest stay queued.
				res.Leases = append(res.Leases, got.Leases...)
				res.Failed = append(res.Failed, got.Failed...)
				return res, nil
			}
			if len(got.Leases)+len(got.Failed) < n {
				lost = true
				b.contended()
			}
			res.Leases = append(res.Leases, got.Leases...)
			res.Failed = append(res.Failed, got.Failed...)
			cands = cands[n:]
		}
		if !lost {
			break
		}
	}
	if next != 0 && len(res.Leases) < req.N {
		res.Next = time.UnixMilli(next)
	}
	return res, nil
}

// contention is how long after losing a claim race a backend spreads its
// claims over the head of the queue.
const contention = time.Second

// contended notes that this backend lost a claim race.
func (b *Backend) contended() {
	b.mu.Lock()
	b.lostRace = time.Now()
	b.mu.Unlock()
}

// spread returns cands, or, within a second after this backend lost a
// claim race, cands with those of the first priority rotated to start at a
// random one: claimers that list the queue at the same moment then go for
// different entries instead of all but one failing their commit. A lone
// claimer never loses a race and keeps the queue's order.
func (b *Backend) spread(cands []candidate) []candidate {
	b.mu.Lock()
	recent := time.Since(b.lostRace) < contention
	b.mu.Unlock()
	if !recent || len(cands) < 2 {
		return cands
	}
	first, err := parseEntry(cands[0].q)
	if err != nil {
		return cands
	}
	k := 1
	for k < len(cands) {
		if e, err := parseEntry(cands[k].q); err != nil || e.prio != first.prio {
			break
		}
		k++
	}
	off := rand.IntN(k)
	out := make([]candidate, 0, len(cands))
	out = append(out, cands[off:k]...)
	out = append(out, cands[:off]...)
	return append(out, cands[k:]...)
}

// claimSome claims those of cands that are still claimable.
func (b *Backend) claimSome(ctx context.Context, req store.ClaimRequest, cands []candidate) (store.ClaimResult, error) {
	var out store.ClaimResult
	err := b.update(ctx, "claim "+req.App, func(t *txn) error {
		lim, err := t.limitsFor(req, len(cands), store.Lease{})
		if err != nil {
			return err
		}
		out, err = t.claimCands(req, cands, lim)
		return err
	})
	return out, err
}

// claimCands claims in t those of cands that are still claimable, failing
// those whose abandoned attempt reaches req.MaxRetry (in out.Failed). The
// jobs it leaves alone, and that t did not read for anything else, are not
// checked by the commit.
//
// With lim (req's limits), it claims at most lim.room jobs, each taking a
// slot of each limit in the same multi-op (limits.go).
func (t *txn) claimCands(req store.ClaimRequest, cands []candidate, lim *limited) (store.ClaimResult, error) {
	var out store.ClaimResult
	refs := make([]store.Ref, 0, len(cands))
	parents := map[store.Ref][]store.Ref{}
	for _, c := range cands {
		refs = append(refs, c.ref)
		if req.Parents != nil {
			parents[c.ref] = req.Parents(c.ref)
			refs = append(refs, parents[c.ref]...)
		}
	}
	other := map[store.Ref]bool{} // read for something else: keep checked
	for _, r := range refs {
		if t.recs[r] != nil {
			other[r] = true
		}
	}
	if err := t.load(refs...); err != nil {
		return out, err
	}
	until := t.now + ms(req.Lease)
	for _, c := range cands {
		if lim != nil && len(out.Leases) >= lim.room {
			out.Limited = lim.by
			break
		}
		x := t.get(c.ref)
		if !x.present || x.cur.Q != c.q || x.cur.State != store.Pending || x.cur.live(t.now) || x.changed {
			// Taken or changed meanwhile: not ours to claim. (A
			// queued job is always pending: every transition that
			// leaves pending removes its entry in the same multi.)
			continue
		}
		d := x.cur
		if d.abandoned(t.now, t.b.keep) && req.MaxRetry > 0 && d.Attempts >= req.MaxRetry {
			d.State, d.Q, d.NotBefore = store.Failed, "", 0
			d.clearLease()
			t.put(x, d)
			out.Failed = append(out.Failed, d.job(c.ref, true))
			continue
		}
		seq := d.lease(req.Owner, req.Transferable, t.now, until)
		if lim != nil {
			if err := t.take(lim.free, c.ref); err != nil {
				return out, err
			}
		}
		d.NotBefore = 0
		d.Q = withNotBefore(d.Q, until)
		t.putHeld(x, d)
		l := store.Lease{Ref: c.ref, Token: d.Token, Owner: d.Owner,
			Until: time.UnixMilli(until), Priority: d.Prio, Attempts: d.Attempts, Seq: seq}
		if ps, ok := parents[c.ref]; ok {
			l.Parents = make([]store.Job, len(ps))
			for i, p := range ps {
				y := t.get(p)
				l.Parents[i] = y.cur.job(p, y.present)
			}
		}
		out.Leases = append(out.Leases, l)
	}
	// Candidates we skip, and parents read for the caller, need no version
	// check: drop them from the commit.
	skip := map[*rec]bool{}
	for _, r := range refs {
		if x := t.get(r); !x.changed && !other[r] {
			skip[x] = true
		}
	}
	kept := t.order[:0]
	for _, x := range t.order {
		if !skip[x] {
			kept = append(kept, x)
		}
	}
	t.order = kept
	return out, nil
}

// held loads the job of a lease and checks that the lease is still held.
func (t *txn) held(l store.Lease) (*rec, error) {
	if err := t.load(l.Ref); err != nil {
		return nil, err
	}
	x := t.get(l.Ref)
	if !x.present || l.Token == "" || x.cur.Token != l.Token || !x.cur.live(t.now) || x.cur.State != store.Pending {
		return nil, fmt.Errorf("%v: %w", l.Ref, store.ErrLeaseLost)
	}
	return x, nil
}

// Acquire takes a lease on one named job to run it now.
func (b *Backend) Acquire(ctx context.Context, ref store.Ref, owner string, lease time.Duration) (store.Lease, error) {
	var l store.Lease
	if err := b.checkClock(ctx, lease); err != nil {
		return l, err
	}
	err := b.update(ctx, "acquire "+ref.String(), func(t *txn) error {
		if err := t.load(ref); err != nil {
			return err
		}
		x := t.get(ref)
		d := x.cur
		switch {
		case !x.present:
			d = jobData{State: store.Pending, Prio: store.DefaultPriority}
		case d.State != store.Pending:
			return fmt.Errorf("%v: %w", ref, store.ErrNotPending)
		case d.live(t.now) && !d.Transferable:
			return fmt.Errorf("%v: %w (%s)", ref, store.ErrHeld, d.Owner)
		default:
			d.abandoned(t.now, t.b.keep)
		}
		until := t.now + ms(lease)
		seq := d.lease(owner, false, t.now, until)
		if d.Q != "" {
			d.Q = withNotBefore(d.Q, until)
		}
		t.putHeld(x, d)
		l = store.Lease{Ref: ref, Token: d.Token, Owner: owner, Until: time.UnixMilli(until),
			Priority: d.Prio, Attempts: d.Attempts, Seq: seq}
		return nil
	})
	return l, err
}

// Renew extends a lease to now+d.
func (b *Backend) Renew(ctx context.Context, l store.Lease, dur time.Duration) (store.Lease, error) {
	if err := b.checkClock(ctx, dur); err != nil {
		return l, err
	}
	err := b.update(ctx, "renew "+l.Ref.String(), func(t *txn) error {
		t.cachedLease(l)
		x, err := t.held(l)
		if err != nil {
			return err
		}
		d := x.cur
		d.Until = t.now + ms(dur)
		if d.Q != "" {
			d.Q = withNotBefore(d.Q, d.Until)
		}
		t.putHeld(x, d)
		l.Until, l.Priority, l.Attempts = time.UnixMilli(d.Until), d.Prio, d.Attempts
		return nil
	})
	return l, err
}

// Release gives a lease back: the job stays pending, claimable at once if
// queued.
func (b *Backend) Release(ctx context.Context, l store.Lease) error {
	return b.update(ctx, "release "+l.Ref.String(), func(t *txn) error {
		t.cachedLease(l)
		x, err := t.held(l)
		revoked := false
		if errors.Is(err, store.ErrLeaseLost) && store.IsRevokedOf(t.get(l.Ref).cur.Token, l.Token) {
			// Its holder's command is dead: the revocation ends.
			x, err, revoked = t.get(l.Ref), nil, true
		}
		if err != nil {
			return err
		}
		d := x.cur
		if l.Log != "" {
			d.record(l.Seq, t.now, store.ReleasedOutcome(revoked), l.Log, t.b.keep)
		}
		d.clearLease()
		if d.Q != "" {
			nb := int64(0)
			if d.NotBefore > t.now {
				nb = d.NotBefore
			}
			d.Q = withNotBefore(d.Q, nb)
			t.notify[l.App] = true
		}
		t.put(x, d)
		return nil
	})
}

// Complete marks a job completed and queues the children whose parents
// are now all completed: the first step records the completion with up to
// store.Batch children (and a marker if more are left), further steps the
// others (fanin.go).
func (b *Backend) Complete(ctx context.Context, l store.Lease, outcome string, children []store.Child) error {
	bb := &bubble{parent: l.Ref, children: children, max: store.Batch}
	err := b.first(ctx, bb, "complete "+l.Ref.String(), func(t *txn) error {
		return t.complete(l, outcome, bb)
	})
	if err != nil {
		return err
	}
	return b.steps(ctx, bb)
}

// complete is the first step of Complete in t. Its errors of the job's
// state (lease lost, not found) come before it changes anything.
func (t *txn) complete(l store.Lease, outcome string, bb *bubble) error {
	// The job and what its first children need are read together.
	t.cachedLease(l)
	k, err := t.prepare(l.Ref, bb.take(), l.Ref)
	if err != nil {
		return err
	}
	x := t.get(l.Ref)
	if l.Token != "" {
		if x, err = t.held(l); err != nil {
			return err
		}
	} else if !x.present {
		return fmt.Errorf("%v: %w", l.Ref, store.ErrNotFound)
	} else if x.cur.live(t.now) && !x.cur.Transferable {
		return fmt.Errorf("%v: %w (%s)", l.Ref, store.ErrHeld, x.cur.Owner)
	}
	if x.cur.Readd {
		return fmt.Errorf("%v: %w", l.Ref, store.ErrResetting)
	}
	d := x.cur
	if l.Token != "" {
		d.record(l.Seq, t.now, outcome, l.Log, t.b.keep)
	}
	prio := d.Prio
	d.State, d.Q, d.NotBefore, d.Attempts, d.Outcome = store.Completed, "", 0, 0, outcome
	d.clearLease()
	t.put(x, d)
	return t.firstStep(bb, k, prio)
}

// CompleteClaim completes l and claims, in one multi-op when a job is
// claimable: the queue's head is listed first, then the job, its
// children's jobs and the candidates are read together, and one commit
// completes the one and claims the others. Jobs the commit could not take
// are claimed after, as Claim does.
func (b *Backend) CompleteClaim(ctx context.Context, l store.Lease, outcome string, children []store.Child, req store.ClaimRequest) (store.ClaimResult, error, error) {
	if len(req.Apps) > 0 {
		return b.completeClaimApps(ctx, l, outcome, children, req)
	}
	cands, _, err := b.candidates(ctx, req)
	if err != nil {
		return store.ClaimResult{}, b.Complete(ctx, l, outcome, children), err
	}
	return b.completeClaim(ctx, l, outcome, children, req, cands)
}

// candidates lists the first claimable entries of req.App's queue, as
// CompleteClaim does (head), once the app's nodes and the clock are
// checked.
func (b *Backend) candidates(ctx context.Context, req store.ClaimRequest) ([]candidate, int64, error) {
	if err := b.ensureApp(ctx, req.App); err != nil {
		return nil, 0, err
	}
	if err := b.checkClock(ctx, req.Lease); err != nil {
		return nil, 0, err
	}
	return b.head(ctx, req.App, b.now(), req.N+4)
}

// completeClaimApps is CompleteClaim across apps (store.ClaimRequest.Apps):
// in the order of the heads (Heads, from the watched listings), the
// completion goes in one multi-op with the claim of the first app whose
// queue lists a claimable entry, and the apps after it are claimed as
// Claim does. The children the completion queues compete from the next
// claim.
func (b *Backend) completeClaimApps(ctx context.Context, l store.Lease, outcome string, children []store.Child, req store.ClaimRequest) (store.ClaimResult, error, error) {
	completed := false
	var done error
	res, err := b.claimApps(ctx, req, func(r store.ClaimRequest) (store.ClaimResult, error) {
		if completed {
			return b.Claim(ctx, r)
		}
		cands, next, err := b.candidates(ctx, r)
		if err != nil || len(cands) == 0 { // a stale head: the next app
			var res store.ClaimResult
			if next != 0 {
				res.Next = time.UnixMilli(next)
			}
			return res, err
		}
		completed = true
		res, d, err := b.completeClaim(ctx, l, outcome, children, r, cands)
		done = d
		return res, err
	})
	if !completed {
		done = b.Complete(ctx, l, outcome, children)
	}
	return res, done, err
}

// claimApps is a claim across apps, given the claim of one (claim): in
// the order of the heads (Heads).
func (b *Backend) claimApps(ctx context.Context, req store.ClaimRequest, claim func(store.ClaimRequest) (store.ClaimResult, error)) (store.ClaimResult, error) {
	names := make([]string, len(req.Apps))
	for i, a := range req.Apps {
		names[i] = a.App
	}
	h, err := b.Heads(ctx, names)
	if err != nil {
		return store.ClaimResult{}, err
	}
	return store.ClaimInOrder(req, h, claim)
}

// completeClaim is CompleteClaim of one app, given the candidates listed.
func (b *Backend) completeClaim(ctx context.Context, l store.Lease, outcome string, children []store.Child, req store.ClaimRequest, cands []candidate) (store.ClaimResult, error, error) {
	cands = b.spread(cands)
	var got store.ClaimResult
	var done error
	from := 0
	bb := &bubble{parent: l.Ref, children: children, max: store.Batch}
	err := b.first(ctx, bb, "complete "+l.Ref.String()+" and claim "+req.App, func(t *txn) error {
		if from > 0 {
			b.contended()
		}
		got = store.ClaimResult{}
		done = t.complete(l, outcome, bb)
		if done != nil && !errors.Is(done, store.ErrLeaseLost) && !errors.Is(done, store.ErrNotFound) && !errors.Is(done, store.ErrResetting) {
			return done
		}
		// The completion frees l's slots in this multi-op: the claim
		// may take them. A completion refused claims nothing here (the
		// Claim below does, reading the slots again).
		var lim *limited
		if len(req.Limits) > 0 {
			if done != nil {
				return nil
			}
			var err error
			if lim, err = t.limitsFor(req, req.N, l); err != nil {
				return err
			}
		}
		// Each attempt tries the next candidates: after a conflict, those
		// of the last attempt were most likely claimed by someone else.
		c := cands[min(from, len(cands)):min(from+req.N, len(cands))]
		from += req.N
		var err error
		got, err = t.claimCands(req, c, lim)
		return err
	})
	if err != nil {
		if done == nil {
			done = err
		}
		return store.ClaimResult{}, done, err
	}
	if done == nil {
		done = b.steps(ctx, bb)
	}
	res := got
	if len(got.Leases) < req.N && got.Limited == "" {
		more := req
		more.N -= len(got.Leases)
		rest, err := b.Claim(ctx, more)
		res.Leases, res.Next = append(res.Leases, rest.Leases...), rest.Next
		res.Failed = append(res.Failed, rest.Failed...)
		return res, done, err
	}
	return res, done, nil
}

// queueNode creates a job that is absent (pending and queued, or skipped
// as its Node says), or queues one that is pending and not queued (a
// claimed one's entry is not claimable before its lease ends).
func (t *txn) queueNode(n store.Node, prio int) error {
	x := t.get(n.Ref)
	if !x.present {
		if n.Skip {
			t.put(x, jobData{State: store.Skipped, Prio: prio})
			return nil
		}
		d := jobData{State: store.Pending}
		if err := t.enqueue(x, &d, prio, 0); err != nil {
			return err
		}
		t.put(x, d)
		return nil
	}
	if x.cur.State != store.Pending || x.cur.Q != "" {
		return nil
	}
	d := x.cur
	var nb int64
	if d.live(t.now) {
		nb = d.Until
	}
	d.NotBefore = 0
	if err := t.enqueue(x, &d, prio, nb); err != nil {
		return err
	}
	t.put(x, d)
	return nil
}

// Fail records a failed attempt.
func (b *Backend) Fail(ctx context.Context, l store.Lease, outcome string, maxRetry int, delay time.Duration) (bool, error) {
	var final bool
	err := b.update(ctx, "fail "+l.Ref.String(), func(t *txn) error {
		t.cachedLease(l)
		x, err := t.held(l)
		if err != nil {
			return err
		}
		d := x.cur
		d.record(l.Seq, t.now, outcome, l.Log, t.b.keep)
		d.Attempts++
		d.Outcome = outcome
		d.clearLease()
		d.NotBefore = 0
		final = d.Attempts >= maxRetry
		if final {
			d.State, d.Q = store.Failed, ""
			t.put(x, d)
			return nil
		}
		return t.requeue(x, d, delay)
	})
	return final, err
}

// requeue puts d, whose lease was cleared, back on its queue, claimable
// after delay (at once for 0), and writes it: a Fail that retries, or a
// Defer.
func (t *txn) requeue(x *rec, d jobData, delay time.Duration) error {
	d.NotBefore = 0
	var nb int64
	if delay > 0 {
		nb = t.now + ms(delay)
		d.NotBefore = nb
	}
	if err := t.enqueue(x, &d, d.Prio, nb); err != nil {
		return err
	}
	t.put(x, d)
	return nil
}

// Park is bubble-up: see store.Backend. A child with more parents and
// ancestors above than store.Batch, or whose one step would be over
// ZooKeeper's request limit, is parked in steps (store.ParkInSteps).
func (b *Backend) Park(ctx context.Context, l store.Lease, parents []store.Ref, above []store.Node) (store.ParkResult, error) {
	if len(parents)+len(above) <= store.Batch {
		res, err := b.ParkStep(ctx, l, parents, above)
		if !errors.Is(err, errTooBig) {
			return res, err
		}
	}
	return store.ParkInSteps(ctx, b, l, parents, above)
}

// ParkStep is Park in one multi-op (store.ParkStepper).
func (b *Backend) ParkStep(ctx context.Context, l store.Lease, parents []store.Ref, above []store.Node) (store.ParkResult, error) {
	return b.park(ctx, l, parents, above, false)
}

// QueueAbove queues nodes as Park does above, in one multi-op, or in the
// first half of them while that is over ZooKeeper's request limit
// (store.ParkStepper).
func (b *Backend) QueueAbove(ctx context.Context, l store.Lease, nodes []store.Node) (int, error) {
	_, err := b.park(ctx, l, nil, nodes, true)
	if errors.Is(err, errTooBig) && len(nodes) > 1 {
		return b.QueueAbove(ctx, l, nodes[:len(nodes)/2])
	}
	if err != nil {
		return 0, err
	}
	return len(nodes), nil
}

// park is Park in one multi-op, or with keep only the queueing of above
// (see store.ParkStepper).
func (b *Backend) park(ctx context.Context, l store.Lease, parents []store.Ref, above []store.Node, keep bool) (store.ParkResult, error) {
	var res store.ParkResult
	err := b.update(ctx, "park "+l.Ref.String(), func(t *txn) error {
		res = store.ParkResult{}
		x, err := t.held(l)
		if err != nil {
			return err
		}
		if err := t.load(parents...); err != nil {
			return err
		}
		ready := !keep
		for _, p := range parents {
			y := t.get(p)
			if !y.present || y.cur.State != store.Completed {
				ready = false
			}
			res.Parents = append(res.Parents, y.orig.job(p, y.exists))
		}
		if !ready {
			refs := make([]store.Ref, len(above))
			for i, n := range above {
				refs[i] = n.Ref
			}
			if err := t.load(refs...); err != nil {
				return err
			}
			prio := x.cur.Prio
			for _, n := range above {
				y := t.get(n.Ref)
				if y.present && y.cur.live(t.now) {
					continue // running: it queues its children when it completes
				}
				if err := t.queueNode(n, prio); err != nil {
					return err
				}
			}
		}
		if !ready && !keep {
			d := x.cur
			d.Q, d.NotBefore = "", 0
			d.clearLease()
			if l.Seq > 0 && l.Seq == d.Try {
				d.Try-- // nothing ran: the number is given back
			}
			t.put(x, d)
		}
		res.Ready = ready
		return nil
	})
	return res, err
}

// SetState sets the state of an existing job outside the lease protocol.
func (b *Backend) SetState(ctx context.Context, ref store.Ref, st store.State, outcome string) error {
	return b.update(ctx, "set state "+ref.String(), func(t *txn) error {
		if err := t.load(ref); err != nil {
			return err
		}
		x := t.get(ref)
		if !x.present {
			return fmt.Errorf("%v: %w", ref, store.ErrNotFound)
		}
		d := x.cur
		d.State, d.Outcome = st, outcome
		d.revoke(t.now)
		if st != store.Pending {
			d.Q, d.NotBefore = "", 0
			if d.Transferable {
				d.clearLease() // nothing runs under it
			}
		} else if d.Q != "" {
			t.notify[ref.App] = true
		}
		t.put(x, d)
		return nil
	})
}

// Held reads whether a lease is still held, from the server.
func (b *Backend) Held(ctx context.Context, l store.Lease) error {
	x := &rec{ref: l.Ref, path: b.p.job(l.Ref)}
	if err := b.read(ctx, x); err != nil {
		return err
	}
	if !x.exists || l.Token == "" || x.cur.Token != l.Token || !x.cur.live(b.now()) {
		return fmt.Errorf("%v: %w", l.Ref, store.ErrLeaseLost)
	}
	return nil
}

// Get reads jobs.
func (b *Backend) Get(ctx context.Context, refs []store.Ref) ([]store.Job, error) {
	recs := make([]*rec, len(refs))
	for i, r := range refs {
		recs[i] = &rec{ref: r, path: b.p.job(r)}
	}
	if err := parallel(len(recs), func(i int) error { return b.read(ctx, recs[i]) }); err != nil {
		return nil, err
	}
	out := make([]store.Job, len(refs))
	for i, x := range recs {
		out[i] = x.cur.job(x.ref, x.exists)
	}
	return out, nil
}

// List calls fn for every job of an app (of state st unless Absent), one
// bucket at a time.
func (b *Backend) List(ctx context.Context, app string, st store.State, fn func(store.Job) error) error {
	return b.scan(ctx, app, func(x *rec) error {
		if st != store.Absent && x.cur.State != st {
			return nil
		}
		return fn(x.cur.job(x.ref, true))
	})
}

// History reads the recorded attempts of jobs, from their data.
func (b *Backend) History(ctx context.Context, refs []store.Ref) ([][]store.Attempt, error) {
	recs := make([]*rec, len(refs))
	for i, r := range refs {
		recs[i] = &rec{ref: r, path: b.p.job(r)}
	}
	if err := parallel(len(recs), func(i int) error { return b.read(ctx, recs[i]) }); err != nil {
		return nil, err
	}
	out := make([][]store.Attempt, len(refs))
	for i, x := range recs {
		out[i] = x.cur.attempts(x.ref)
	}
	return out, nil
}

// AppHistory calls fn for the attempts of an app that ended in [since,
// until): it reads every job of the app (as List does), one bucket at a
// time, and calls fn in no particular order.
func (b *Backend) AppHistory(ctx context.Context, app string, since, until time.Time, fn func(store.Attempt) error) error {
	return b.scan(ctx, app, func(x *rec) error {
		for _, a := range x.cur.attempts(x.ref) {
			if a.End.Before(since) || !until.IsZero() && !a.End.Before(until) {
				continue
			}
			if err := fn(a); err != nil {
				return err
			}
		}
		return nil
	})
}

// scan calls fn for every job of an app, one bucket at a time.
func (b *Backend) scan(ctx context.Context, app string, fn func(*rec) error) error {
	buckets, err := b.children(ctx, b.p.jobs(app))
	if err != nil {
		return err
	}
	for _, bk := range buckets {
		names, err := b.children(ctx, b.p.jobs(app)+"/"+bk)
		if err != nil {
			return err
		}
		recs := make([]*rec, 0, len(names))
		for _, n := range names {
			id, err := unescapeName(n)
			if err != nil {
				continue
			}
			r := store.Ref{App: app, JobID: id}
			recs = append(recs, &rec{ref: r, path: b.p.job(r)})
		}
		if err := parallel(len(recs), func(i int) error { return b.read(ctx, recs[i]) }); err != nil {
			return err
		}
		for _, x := range recs {
			if !x.exists {
				continue
			}
			if err := fn(x); err != nil {
				return err
			}
		}
	}
	return nil
}

// countList counts an app's jobs by reading every one of them (an app
// whose counts are not kept: see counts.go).
func (b *Backend) countList(ctx context.Context, app string, now time.Time) (store.Counts, error) {
	c := store.Counts{States: map[store.State]int{}}
	err := b.List(ctx, app, store.Absent, func(j store.Job) error {
		c.States[j.State]++
		if j.Queued {
			c.Queued++
		}
		if j.Claimed(now) {
			c.Claimed++
		}
		return nil
	})
	return c, err
}

// Wait blocks until the app's notify node changes, until, or ctx ends. It
// sets its watch first and then looks at the head of the queue, returning
// at once if a job is claimable, so no change between the caller's last
// Claim and the watch is missed.
func (b *Backend) Wait(ctx context.Context, app string, until time.Time) error {
	if err := b.ensureApp(ctx, app); err != nil {
		return err
	}
	path := b.p.notify(app)
	var ch <-chan zk.Event
	err := b.retry(ctx, func() error {
		var err error
		_, _, ch, err = b.conn.ExistsW(path)
		return err
	})
	if err != nil {
		return b.wrap(path, err)
	}
	cands, _, err := b.head(ctx, app, b.now(), 1)
	if err != nil || len(cands) > 0 {
		return err
	}
	var timer <-chan time.Time
	if !until.IsZero() {
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer:
		return nil
	case ev := <-ch:
		if ev.Err != nil && !transient(ev.Err) && !errors.Is(ev.Err, zk.ErrClosing) {
			return b.wrap(path, ev.Err)
		}
		return nil
	}
}
