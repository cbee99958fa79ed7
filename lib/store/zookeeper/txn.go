package zookeeper

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"sort"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stolos-sched/stolos/lib/store"
)

// jobData is a job node's data. Times are Unix milliseconds.
type jobData struct {
	State        store.State `json:"s"`
	Q            string      `json:"q,omitempty"` // queue entry (entryName), "" if not queued
	Prio         int         `json:"p"`
	Owner        string      `json:"o,omitempty"`
	Token        string      `json:"t,omitempty"`
	Transferable bool        `json:"x,omitempty"`
	Until        int64       `json:"u,omitempty"`
	NotBefore    int64       `json:"n,omitempty"`
	Attempts     int         `json:"a,omitempty"`
	Outcome      string      `json:"r,omitempty"`
	Try          int64       `json:"i,omitempty"` // attempts numbered so far (store.Attempt.Seq)
	Start        int64       `json:"b,omitempty"` // when the lease was taken
	History      []attempt   `json:"h,omitempty"` // the ring of the last attempts, by slot
	// Readd: its readd in steps is unfinished (its marker says how far):
	// it cannot be completed (store.ErrResetting).
	Readd bool   `json:"rd,omitempty"`
	Op    string `json:"op,omitempty"` // the transaction that wrote it last
}

func (d *jobData) clearLease() { d.Owner, d.Token, d.Transferable, d.Until = "", "", false, 0 }

// live reports whether the job is under a lease at now.
func (d *jobData) live(now int64) bool { return d.Token != "" && d.Until > now }

// revoke revokes a live lease of a worker (see store.Lease).
func (d *jobData) revoke(now int64) {
	if d.live(now) && !d.Transferable && !store.IsRevoked(d.Token) {
		d.Token = store.RevokedToken(d.Token)
	}
}

// abandoned counts and records the abandoned attempt of a lease that
// ended without an outcome, if d has one (see store.Lease), and reports
// whether it did.
func (d *jobData) abandoned(now int64, keep int) bool {
	if d.Token == "" || d.live(now) || d.Transferable || store.IsRevoked(d.Token) || d.State != store.Pending {
		return false
	}
	d.Attempts++
	d.Outcome = store.AbandonedOutcome(d.Owner)
	d.record(d.Try, d.Until, d.Outcome, "", keep)
	return true
}

// attempt is the record of one attempt in a job's data. Times are Unix
// milliseconds.
type attempt struct {
	Seq     int64  `json:"i"`
	Start   int64  `json:"b"`
	End     int64  `json:"e"`
	Worker  string `json:"w"`
	Outcome string `json:"r"`
	Log     string `json:"l,omitempty"`
}

// record writes the record of attempt seq of d's lease (its owner and
// start), ended at end, in its slot of the ring, which it copies (the
// data it came from may be shared). A lease with no number
// (transferable) has none. Slots past keep (it was larger) are dropped.
func (d *jobData) record(seq, end int64, outcome, log string, keep int) {
	if seq <= 0 {
		return
	}
	slot := int(store.Slot(seq, keep))
	h := make([]attempt, max(min(len(d.History), keep), slot+1))
	copy(h, d.History)
	h[slot] = attempt{Seq: seq, Start: d.Start, End: end, Worker: d.Owner, Outcome: outcome, Log: log}
	d.History = h
}

// lease gives d a lease, and the next attempt number unless it is
// transferable; it returns the number (0 for none).
func (d *jobData) lease(owner string, transferable bool, now, until int64) int64 {
	d.Owner, d.Token, d.Transferable, d.Until, d.Start = owner, newToken(), transferable, until, now
	if transferable {
		return 0
	}
	d.Try++
	return d.Try
}

// attempts are the records of d's ring, oldest first.
func (d *jobData) attempts(ref store.Ref) []store.Attempt {
	var out []store.Attempt
	for _, a := range d.History {
		if a.Seq > 0 {
			out = append(out, a.of(ref))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

func (a attempt) of(ref store.Ref) store.Attempt {
	return store.Attempt{Ref: ref, Seq: a.Seq, Start: time.UnixMilli(a.Start), End: time.UnixMilli(a.End),
		Worker: a.Worker, Outcome: a.Outcome, Log: a.Log}
}

// job converts the data to a store.Job.
func (d *jobData) job(ref store.Ref, exists bool) store.Job {
	j := store.Job{Ref: ref}
	if !exists {
		return j
	}
	j.State, j.Queued, j.Priority = d.State, d.Q != "", d.Prio
	j.Attempts, j.Outcome = d.Attempts, d.Outcome
	if d.Token != "" {
		j.Owner, j.Until, j.Revoked = d.Owner, time.UnixMilli(d.Until), store.IsRevoked(d.Token)
	}
	if d.NotBefore != 0 && d.Q != "" {
		j.NotBefore = time.UnixMilli(d.NotBefore)
	}
	return j
}

// rec is one job as a transaction read it, and as it will write it.
type rec struct {
	ref     store.Ref
	path    string
	exists  bool // when read
	version int32
	orig    jobData
	cur     jobData
	present bool // after the changes so far
	changed bool
	cached  bool // read from the lease cache, not from the server
	assumed bool // taken for absent without a read (assumeAbsent)
	held    bool // written holding a lease of this backend's: cache it
	op      int  // index in the multi of the op that checks its version
}

// leaseCache keeps the jobs this backend holds leases on as it last wrote
// them, with their node versions: completing, failing, renewing or
// releasing a lease then skips reading the job first. A job changed by
// anyone else meanwhile has another version, so the commit fails its
// version check and the transition runs again from a fresh read.
type leaseCache map[store.Ref]cachedJob

type cachedJob struct {
	data    jobData
	version int32
}

// cachedLease puts l's job in t from the lease cache, if it is there under
// l's token, so that loading it reads nothing.
func (t *txn) cachedLease(l store.Lease) {
	if l.Token == "" || t.recs[l.Ref] != nil {
		return
	}
	t.b.mu.Lock()
	c, ok := t.b.leases[l.Ref]
	t.b.mu.Unlock()
	if !ok || c.data.Token != l.Token {
		return
	}
	x := &rec{ref: l.Ref, path: t.b.p.job(l.Ref), exists: true, present: true,
		version: c.version, orig: c.data, cur: c.data, cached: true}
	t.recs[l.Ref] = x
	t.order = append(t.order, x)
}

// putHeld is put for a job that this backend then holds a lease on.
func (t *txn) putHeld(x *rec, d jobData) {
	t.put(x, d)
	x.held = true
}

// committed updates the lease cache after a commit: the jobs written
// holding a lease with their new versions (from the multi's answers), and
// no others. With no answers (the commit's reply was lost), nothing
// written is kept.
func (t *txn) committed(res []zk.MultiResponse) {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	for _, x := range t.order {
		if !x.changed {
			continue
		}
		delete(t.b.leases, x.ref)
		if !x.held || x.op >= len(res) {
			continue
		}
		v := int32(0) // created
		if st := res[x.op].Stat; x.exists && st != nil {
			v = st.Version
		} else if x.exists {
			continue
		}
		t.b.leases[x.ref] = cachedJob{data: x.cur, version: v}
	}
}

// culprits returns the jobs of t whose op failed the commit (the first op
// with an error in its answer), or all of them when the answer does not
// say.
func (t *txn) culprits(res []zk.MultiResponse) []*rec {
	failed := -1
	for i, r := range res {
		if r.Error != nil {
			failed = i
			break
		}
	}
	var out []*rec
	for _, x := range t.order {
		if x.op == failed || failed < 0 {
			out = append(out, x)
		}
	}
	return out
}

// uncacheFailed drops from the lease cache the job whose version check
// failed the commit, if t took it from there: someone else changed it, and
// the next attempt reads it.
func (t *txn) uncacheFailed(res []zk.MultiResponse) {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	for _, x := range t.culprits(res) {
		if x.cached {
			delete(t.b.leases, x.ref)
		}
	}
}

// presentFailed notes the app of a job taken for absent whose create
// failed the commit: it was there.
func (t *txn) presentFailed(res []zk.MultiResponse) {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	for _, x := range t.culprits(res) {
		if x.assumed {
			t.b.present[x.ref.App] = time.Now()
		}
	}
}

// uncache drops the jobs t took from the lease cache, after a failed
// transition: the next attempt reads them.
func (t *txn) uncache() {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	for _, x := range t.order {
		if x.cached {
			delete(t.b.leases, x.ref)
		}
	}
}

// txn collects the reads and writes of one attempt at one transition.
type txn struct {
	b      *Backend
	ctx    context.Context
	now    int64
	recs   map[store.Ref]*rec
	order  []*rec
	notify map[string]bool
	op     string
	first  bool      // the transition's first attempt
	counts []countOp // the commit's writes of count shards

	// Fan-in records read (fanin.go), the operations on other nodes than
	// jobs, and a node written whose data holds op (to recognize the
	// commit after a lost answer) when no job is written.
	records map[string]*fnode
	rorder  []*fnode
	inSet   map[string]bool // nodes of sets seen there (probeSets)
	extra   []any
	dirs    []string // where extra creates nodes that must exist (records' buckets, /bubble)
	probe   string

	building *kid // the child whose record t starts to build in steps (fanin.go)

	// Limits' slots (limits.go): those the commit gives each job it
	// claims, and those taken off the backend's known free ones.
	took   map[store.Ref][]slot
	popped []slot
	// The multi-op sent and its answers, if any.
	sent []any
	res  []zk.MultiResponse
}

// add appends an operation on another node than a job's.
func (t *txn) add(op any) { t.extra = append(t.extra, op) }

var errConflict = errors.New("conflict")

// maxAttempts bounds the retries of a transition that keeps conflicting.
const maxAttempts = 200

// update runs build and commits what it did, again and again while the
// commit conflicts with a concurrent change. build must start from scratch
// each time (it is given a fresh txn).
func (b *Backend) update(ctx context.Context, what string, build func(t *txn) error) error {
	for attempt := 0; ; attempt++ {
		t := &txn{b: b, ctx: ctx, now: b.now(), recs: map[store.Ref]*rec{},
			notify: map[string]bool{}, op: newToken(), first: attempt == 0,
			records: map[string]*fnode{}, inSet: map[string]bool{}}
		if err := build(t); err != nil {
			t.uncache() // a lost lease, say: forget it
			t.slotsSettled(false)
			return err
		}
		err := t.commit()
		t.slotsSettled(err == nil)
		if !errors.Is(err, errConflict) {
			return err
		}
		if attempt+1 >= maxAttempts {
			return fmt.Errorf("zookeeper %s: %s: gave up after %d conflicting attempts", b.hosts, what, maxAttempts)
		}
		if err := sleep(ctx, time.Duration(rand.IntN(1+min(attempt, 20)*500))*time.Microsecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newToken returns a random token.
func newToken() string {
	var b [12]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// assumeAbsent takes the job r for absent without reading it, on a
// transition's first attempt, unless a job of r's app taken for absent
// lately was there. The commit proves it absent (it creates the node), and
// fails if it is not, and the next attempt reads it. Bubble-down uses it
// for children, which do not exist until their last parent completes.
func (t *txn) assumeAbsent(r store.Ref) {
	if !t.first || t.recs[r] != nil || store.CheckRef(r) != nil {
		return
	}
	t.b.mu.Lock()
	present := time.Since(t.b.present[r.App]) < presentFor
	t.b.mu.Unlock()
	if present {
		return
	}
	x := &rec{ref: r, path: t.b.p.job(r), assumed: true}
	t.recs[r] = x
	t.order = append(t.order, x)
}

// presentFor is how long, after a job taken for absent was there, jobs of
// its app are read rather than taken for absent.
const presentFor = 10 * time.Second

// load reads the jobs not read yet, in parallel.
func (t *txn) load(refs ...store.Ref) error { return t.loadAll(refs, nil) }

// read fills x from its node.
func (b *Backend) read(ctx context.Context, x *rec) error {
	data, st, err := b.getData(ctx, x.path)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return b.wrap(x.path, err)
	}
	if err := json.Unmarshal(data, &x.orig); err != nil {
		return fmt.Errorf("zookeeper %s: %s: bad job data: %v", b.hosts, x.path, err)
	}
	x.exists, x.present, x.version, x.cur = true, true, st.Version, x.orig
	return nil
}

// get returns a loaded job.
func (t *txn) get(r store.Ref) *rec { return t.recs[r] }

// put replaces a job's data (creating it if absent).
func (t *txn) put(x *rec, d jobData) {
	x.cur, x.present, x.changed = d, true, true
}

// blockFresh is how long a backend takes positions from one block: the
// entries one process queues within it come out, among those of equal
// priority, in its own order but not always in time order with those of
// other processes.
const blockFresh = time.Second

// posBlock is the unused rest of the last block of queue positions a
// backend got for an app.
type posBlock struct {
	next, end uint64
	at        time.Time
}

// position returns a new queue position at the back of app's queue: the
// next of the backend's current block for the app, or the first of a new
// block of 1<<posBlockBits positions (one write of the app's seq node).
// Positions of a transaction that does not commit are skipped, not reused.
func (t *txn) position(app string) (uint64, error) {
	b := t.b
	b.mu.Lock()
	if blk := b.blocks[app]; blk != nil && blk.next < blk.end && time.Since(blk.at) < blockFresh {
		pos := blk.next
		blk.next++
		b.mu.Unlock()
		return pos, nil
	}
	b.mu.Unlock()
	if err := b.ensureApp(t.ctx, app); err != nil {
		return 0, err
	}
	var st *zk.Stat
	path := b.p.seq(app)
	at := time.Now()
	err := b.retry(t.ctx, func() error {
		var err error
		st, err = b.conn.Set(path, nil, -1)
		return err
	})
	if err != nil {
		return 0, b.wrap(path, err)
	}
	base := uint64(st.Version) << posBlockBits
	b.mu.Lock()
	b.blocks[app] = &posBlock{next: base + 1, end: base + 1<<posBlockBits, at: at}
	b.mu.Unlock()
	return base, nil
}

// enqueue gives x a new entry at the back of its app's queue at prio,
// claimable after notBefore (0: now), and wakes the app's waiters.
func (t *txn) enqueue(x *rec, d *jobData, prio int, notBefore int64) error {
	pos, err := t.position(x.ref.App)
	if err != nil {
		return err
	}
	d.Prio = prio
	d.Q = entryName(prio, pos, notBefore, x.ref.JobID)
	t.notify[x.ref.App] = true
	return nil
}

// commit writes everything in one multi-op, with version checks on every
// job read. It returns errConflict when a concurrent change got in first.
func (t *txn) commit() error {
	ops, creates, first, err := t.jobOps()
	if err != nil {
		return err
	}
	// The records first, then the nodes of their sets and the markers.
	extras := append(t.recordOps(), t.extra...)
	if first == nil && !writes(extras) {
		return nil // nothing written: the reads are the answer
	}
	probe := t.probe
	if first != nil {
		probe = first.path
	}
	ops = append(ops, extras...)
	// The nodes of sets are created under their record or shard, which
	// must be there: a record removed meanwhile fails the commit rather
	// than being made again empty.
	creates = append(creates, t.dirs...)
	if ops, err = t.finishOps(ops, creates); err != nil {
		return err
	}
	var res []zk.MultiResponse
	err = call(t.ctx, func() error {
		var err error
		res, err = t.b.conn.Multi(ops...)
		return err
	})
	t.sent, t.res = ops, res
	return t.settle(res, err, probe)
}

// jobOps makes the operations of the jobs read or written, in t.order: a
// version check of one read, a create and delete that proves one absent,
// the write of one changed and of its queue entry. It returns the parents
// the operations create under, and the first job written (nil if none).
func (t *txn) jobOps() (ops []any, creates []string, first *rec, err error) {
	b := t.b
	for _, x := range t.order {
		switch {
		case !x.changed && x.exists:
			x.op = len(ops)
			ops = append(ops, &zk.CheckVersionRequest{Path: x.path, Version: x.version})
		case !x.changed:
			// Prove the job still absent: create and delete it.
			x.op = len(ops)
			ops = append(ops, &zk.CreateRequest{Path: x.path, Acl: b.acl},
				&zk.DeleteRequest{Path: x.path, Version: 0})
			creates = append(creates, b.p.bucket(x.ref))
		default:
			if first == nil {
				first = x
			}
			x.cur.Op = t.op
			data, err := json.Marshal(x.cur)
			if err != nil {
				return nil, nil, nil, err
			}
			x.op = len(ops)
			if x.exists {
				ops = append(ops, &zk.SetDataRequest{Path: x.path, Data: data, Version: x.version})
			} else {
				ops = append(ops, &zk.CreateRequest{Path: x.path, Data: data, Acl: b.acl})
				creates = append(creates, b.p.bucket(x.ref))
			}
			if x.orig.Q != x.cur.Q {
				if x.orig.Q != "" {
					ops = append(ops, &zk.DeleteRequest{Path: b.p.entry(x.ref.App, x.orig.Q), Version: -1})
				}
				if x.cur.Q != "" {
					p := b.p.entry(x.ref.App, x.cur.Q)
					ops = append(ops, &zk.CreateRequest{Path: p, Acl: b.acl})
					creates = append(creates, path.Dir(p))
				}
			}
		}
	}
	return ops, creates, first, nil
}

// writes reports whether ops write anything (are not all version checks).
func writes(ops []any) bool {
	for _, e := range ops {
		if _, ok := e.(*zk.CheckVersionRequest); !ok {
			return true
		}
	}
	return false
}

// finishOps completes the operations of a commit that writes: the notify
// nodes' touches and the count shards' updates. It creates the nodes the
// operations need (the apps' fixed nodes, the fan-in buckets, creates),
// and fails with errTooBig for a multi-op over maxMulti.
func (t *txn) finishOps(ops []any, creates []string) ([]any, error) {
	b := t.b
	for app := range t.notify {
		ops = append(ops, &zk.SetDataRequest{Path: b.p.notify(app), Version: -1})
	}
	for app := range t.recsApps() {
		if err := b.ensureApp(t.ctx, app); err != nil {
			return nil, err
		}
	}
	for _, r := range t.rorder {
		if r.changed && !r.exists {
			if err := b.ensureFanin(t.ctx, r.app); err != nil {
				return nil, err
			}
		}
	}
	ops, dirs, err := t.countOps(ops)
	if err != nil {
		return nil, err
	}
	creates = append(creates, dirs...)
	size := multiSize(ops)
	if size > maxMulti {
		return nil, fmt.Errorf("zookeeper %s: transaction of %d operations is %d bytes, %w of about %d", b.hosts, len(ops), size, errTooBig, maxMulti)
	}
	for {
		l := b.largest.Load()
		if int64(size) <= l || b.largest.CompareAndSwap(l, int64(size)) {
			break
		}
	}
	for _, p := range creates {
		if err := b.ensure(t.ctx, p); err != nil {
			return nil, err
		}
	}
	return ops, nil
}

// settle takes in the outcome of the multi-op (its responses res, its
// error err): what the caches learn, and commit's answer. After a
// transient error it reads probe, a node the commit wrote, to learn
// whether the multi-op was applied.
func (t *txn) settle(res []zk.MultiResponse, err error, probe string) error {
	b := t.b
	switch {
	case err == nil:
		t.committed(res)
		t.countsCommitted(res)
		return nil
	case errors.Is(err, zk.ErrNoNode):
		b.forget() // a queue node we knew may have been removed
		t.countsFailed(res)
		return errConflict
	case errors.Is(err, zk.ErrBadVersion):
		t.uncacheFailed(res)
		t.countsFailed(res)
		return errConflict
	case errors.Is(err, zk.ErrNodeExists):
		t.presentFailed(res)
		t.countsFailed(res)
		return errConflict
	case errors.Is(err, zk.ErrNotEmpty):
		return errConflict
	case transient(err):
		t.uncache()
		t.committed(nil)
		t.countsCommitted(nil)
		// The multi may or may not have been applied: look (a commit
		// that writes neither a job nor a record nor a marker is tried
		// again, which its reads make harmless).
		mine, err := t.applied(probe)
		if err != nil {
			return err
		}
		if mine {
			return nil
		}
		return errConflict
	default:
		t.uncache()
		t.countsCommitted(nil)
		return b.wrap("multi", err)
	}
}

// applied reads whether probe was written by this commit (its op is t.op).
func (t *txn) applied(probe string) (bool, error) {
	b := t.b
	var mine bool
	rerr := b.retry(t.ctx, func() error {
		if probe == "" {
			return nil
		}
		data, _, err := b.conn.Get(probe)
		if err != nil {
			return err
		}
		var d struct {
			Op string `json:"op"`
		}
		if json.Unmarshal(data, &d) == nil && d.Op == t.op {
			mine = true
		}
		return nil
	})
	if rerr != nil && !errors.Is(rerr, zk.ErrNoNode) {
		return false, b.wrap(probe, rerr)
	}
	return mine, nil
}

func (t *txn) recsApps() map[string]bool {
	apps := map[string]bool{}
	for _, x := range t.order {
		apps[x.ref.App] = true
	}
	return apps
}

// maxMulti is the largest multi-op request we send: ZooKeeper's default
// jute.maxbuffer is 1 MB, and a bigger request makes the server drop the
// connection; a quarter is left for what multiSize does not count.
const maxMulti = 768 * 1024

// errTooBig is the error of a commit over maxMulti.
var errTooBig = errors.New("over ZooKeeper's limit")

// multiSize estimates the encoded size of a multi-op request.
func multiSize(ops []any) int {
	n := 0
	for _, op := range ops {
		n += 32
		switch op := op.(type) {
		case *zk.CreateRequest:
			n += len(op.Path) + len(op.Data) + 64*len(op.Acl)
		case *zk.SetDataRequest:
			n += len(op.Path) + len(op.Data)
		case *zk.DeleteRequest:
			n += len(op.Path)
		case *zk.CheckVersionRequest:
			n += len(op.Path)
		}
	}
	return n
}
