package zookeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stolos-sched/stolos/lib/store"
)

// Bubble-down (DESIGN.md, "Fan-in records" and "Bubble-down in bounded
// steps"). A child of one parent needs no record: the parent being
// completed, the child is ready. A child of several has a fan-in record,
// a node whose data holds its number of parents and of those missing, with
// one child node per parent in its set. A parent's completion creates its
// node in the set and lowers the count, checking the record's version: the
// create fails if the parent was in the set already (a re-run), so the
// count goes down once per parent, and two parents completing at once
// conflict on one node, not on all their siblings. When the count is zero
// and the child needs queueing (absent, or pending and not queued), the
// parents are read, once: if all are completed the child is queued, else
// those that are not (reset by -readd or -set since) leave the set and
// count as missing again. Records are created by the first parent's
// completion, with that parent in the set, and kept.

// faninData is a fan-in record's data.
type faninData struct {
	N       int    `json:"n"` // parents of the child
	Missing int    `json:"m"` // parents not in the set
	Op      string `json:"op,omitempty"`
}

// record is a fan-in record as a transaction read it, and as it will
// write it.
type record struct {
	child   store.Ref
	path    string
	exists  bool // when read
	version int32
	d       faninData
	changed bool
	checked bool // the transaction depends on it: check its version
}

// entry is the path of parent's node in the set of r.
func (r *record) entry(parent store.Ref) string { return entryPath(r.path, r.d.N, parent) }

// record registers the fan-in record of child in t, to be read by
// loadRecords.
func (t *txn) record(child store.Ref) *record {
	if r := t.records[child]; r != nil {
		return r
	}
	r := &record{child: child, path: t.b.p.record(child)}
	t.records[child] = r
	t.rorder = append(t.rorder, r)
	return r
}

// readRecord fills r from its node.
func (b *Backend) readRecord(ctx context.Context, r *record) error {
	var data []byte
	var st *zk.Stat
	err := b.retry(ctx, func() error {
		var err error
		data, st, err = b.conn.Get(r.path)
		return err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return b.wrap(r.path, err)
	}
	if err := json.Unmarshal(data, &r.d); err != nil || r.d.N < 2 || r.d.Missing < 0 || r.d.Missing > r.d.N {
		return fmt.Errorf("zookeeper %s: %s: bad fan-in record %q", b.hosts, r.path, data)
	}
	r.exists, r.version = true, st.Version
	return nil
}

// recordOps returns the operations of the records t changed or depends
// on, which go before its other extra operations (the nodes of their sets).
func (t *txn) recordOps() []extraOp {
	var out []extraOp
	for _, r := range t.rorder {
		switch {
		case r.changed:
			r.d.Op = t.op
			data, _ := json.Marshal(r.d)
			if t.probe == "" {
				t.probe = r.path
			}
			if !r.exists {
				out = append(out, extraOp{op: &zk.CreateRequest{Path: r.path, Data: data, Acl: t.b.acl}})
				for i := range subs(r.d.N) {
					out = append(out, extraOp{op: &zk.CreateRequest{Path: r.path + "/" + subName(i), Acl: t.b.acl}})
				}
			} else {
				out = append(out, extraOp{op: &zk.SetDataRequest{Path: r.path, Data: data, Version: r.version}})
			}
		case r.checked && r.exists:
			out = append(out, extraOp{op: &zk.CheckVersionRequest{Path: r.path, Version: r.version}})
		}
	}
	return out
}

// parentCount returns the number of parents of c: the backend's memory of
// it, else the length of c.Parents().
func (b *Backend) parentCount(c store.Child) (int, error) {
	b.mu.Lock()
	n, ok := b.nparents[c.Ref]
	b.mu.Unlock()
	if ok {
		return n, nil
	}
	ps, err := store.ChildParents(c)
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	if len(b.nparents) >= maxRemembered {
		clear(b.nparents)
	}
	b.nparents[c.Ref] = len(ps)
	b.mu.Unlock()
	return len(ps), nil
}

// maxRemembered bounds the backend's per-job memories (numbers of
// parents, nodes known in sets); past it they start again empty.
const maxRemembered = 100_000

// inSet reports whether the backend saw the node of a set at path exist.
func (b *Backend) inSet(path string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inSets[path]
}

// sawInSet remembers that the node of a set at path exists (its create
// failed a commit).
func (b *Backend) sawInSet(path string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.inSets) >= maxRemembered {
		clear(b.inSets)
	}
	b.inSets[path] = true
}

// kids is the children of one step of a bubble-down, sorted by what they
// need.
type kids struct {
	direct []store.Child // of one parent: ready
	recs   []store.Child // of several: they have a fan-in record
}

// prepare reads, in t, what the bubble-down of some children needs, with
// the jobs also: the jobs of the children of one parent (which are taken
// for absent on a first attempt) and the records of the others.
func (t *txn) prepare(children []store.Child, also ...store.Ref) (kids, error) {
	var k kids
	jobs := also
	for _, c := range children {
		n, err := t.b.parentCount(c)
		if err != nil {
			return k, err
		}
		if n <= 1 {
			t.assumeAbsent(c.Ref)
			k.direct = append(k.direct, c)
			jobs = append(jobs, c.Ref)
			continue
		}
		t.record(c.Ref)
		k.recs = append(k.recs, c)
	}
	return k, t.loadAll(jobs, k.recs)
}

// bubbleDown queues, in t, those of the children read by prepare that
// parent (completed, in t or before) makes ready, with priority prio.
func (t *txn) bubbleDown(parent store.Ref, k kids, prio int) error {
	for _, c := range k.direct {
		if err := t.queueNode(c.Node, prio); err != nil {
			return err
		}
	}
	// Add parent to each record's set. A child without a record gets one
	// if it needs queueing.
	var full, fresh []store.Child
	seen := map[store.Ref]bool{}
	for _, c := range k.recs {
		r := t.records[c.Ref]
		if seen[c.Ref] {
			continue
		}
		seen[c.Ref] = true
		if !r.exists {
			fresh = append(fresh, c)
			continue
		}
		if r.d.Missing > 0 {
			t.addToSet(r, parent)
		}
		if r.d.Missing == 0 {
			full = append(full, c)
		}
	}
	if len(full)+len(fresh) == 0 {
		return nil
	}
	var refs []store.Ref
	for _, c := range append(full, fresh...) {
		t.assumeAbsent(c.Ref)
		refs = append(refs, c.Ref)
	}
	if err := t.load(refs...); err != nil {
		return err
	}
	for _, c := range fresh {
		if !t.needsQueueing(c.Ref) {
			continue // its version is checked
		}
		if err := t.build(c, prio); err != nil {
			return err
		}
	}
	for _, c := range full {
		if !t.needsQueueing(c.Ref) {
			continue
		}
		if err := t.checkParents(c, prio); err != nil {
			return err
		}
	}
	return nil
}

// needsQueueing reports whether a child loaded in t is absent, or pending
// and not queued.
func (t *txn) needsQueueing(r store.Ref) bool {
	x := t.get(r)
	return !x.present || x.cur.State == store.Pending && x.cur.Q == ""
}

// parentStates reads the parents of c and says which are completed.
func (t *txn) parentStates(c store.Child) ([]store.Ref, []bool, error) {
	ps, err := store.ChildParents(c)
	if err != nil {
		return nil, nil, err
	}
	jobs, err := t.peek(ps)
	if err != nil {
		return nil, nil, err
	}
	done := make([]bool, len(ps))
	for i, j := range jobs {
		done[i] = j.State == store.Completed
	}
	return ps, done, nil
}

// build makes the fan-in record of a child that has none from its
// parents' states, or queues the child if all are completed.
func (t *txn) build(c store.Child, prio int) error {
	ps, done, err := t.parentStates(c)
	if err != nil {
		return err
	}
	r := t.records[c.Ref]
	r.d, r.changed = faninData{N: len(ps), Missing: len(ps)}, true
	for i, p := range ps {
		if done[i] {
			t.addToSet(r, p)
		}
	}
	if r.d.Missing > 0 {
		return nil
	}
	r.changed = false // ready: no record needed
	t.dropSet(r)
	return t.queueNode(c.Node, prio)
}

// dropSet takes back the nodes of r's set that t was to create.
func (t *txn) dropSet(r *record) {
	kept := t.extra[:0]
	for _, e := range t.extra {
		if c, ok := e.op.(*zk.CreateRequest); ok && strings.HasPrefix(c.Path, r.path+"/") {
			continue
		}
		kept = append(kept, e)
	}
	t.extra = kept
}

// addToSet adds parent to the set of r, unless it was seen there.
func (t *txn) addToSet(r *record, parent store.Ref) {
	path := r.entry(parent)
	if r.exists && t.b.inSet(path) {
		return
	}
	for _, e := range t.extra {
		if c, ok := e.op.(*zk.CreateRequest); ok && c.Path == path {
			return // added in t already
		}
	}
	t.add(&zk.CreateRequest{Path: path, Acl: t.b.acl}, func() { t.b.sawInSet(path) })
	r.d.Missing--
	r.changed = true
}

// checkParents reads the parents of a child whose set is full and queues
// it if all are completed; those that are not leave the set.
func (t *txn) checkParents(c store.Child, prio int) error {
	ps, done, err := t.parentStates(c)
	if err != nil {
		return err
	}
	r := t.records[c.Ref]
	r.checked = true
	var gone []string
	for i, p := range ps {
		if !done[i] {
			gone = append(gone, r.entry(p))
		}
	}
	if len(gone) == 0 {
		return t.queueNode(c.Node, prio)
	}
	// Those in the set leave it (a parent not in it is already missing).
	there := make([]bool, len(gone))
	err = parallel(len(gone), func(i int) error {
		return t.b.retry(t.ctx, func() error {
			var err error
			there[i], _, err = t.b.conn.Exists(gone[i])
			return err
		})
	})
	if err != nil {
		return t.b.wrap(r.path, err)
	}
	for i, p := range gone {
		if there[i] {
			t.add(&zk.DeleteRequest{Path: p, Version: -1}, nil)
			r.d.Missing++
			r.changed = true
		}
	}
	return nil
}

// peek reads jobs for t without making the commit depend on them: jobs t
// holds already are taken from it.
func (t *txn) peek(refs []store.Ref) ([]store.Job, error) {
	out := make([]store.Job, len(refs))
	var todo []int
	recs := make([]*rec, len(refs))
	for i, r := range refs {
		if x := t.recs[r]; x != nil && !x.assumed {
			out[i] = x.cur.job(r, x.present)
			continue
		}
		recs[i] = &rec{ref: r, path: t.b.p.job(r)}
		todo = append(todo, i)
	}
	err := parallel(len(todo), func(k int) error { return t.b.read(t.ctx, recs[todo[k]]) })
	if err != nil {
		return nil, err
	}
	for _, i := range todo {
		out[i] = recs[i].cur.job(refs[i], recs[i].exists)
	}
	return out, nil
}

// loadAll reads the jobs refs and the records of kids not read yet, all
// at once.
func (t *txn) loadAll(refs []store.Ref, kids []store.Child) error {
	var todo []*rec
	for _, r := range refs {
		if t.recs[r] != nil {
			continue
		}
		if err := store.CheckRef(r); err != nil {
			return err
		}
		x := &rec{ref: r, path: t.b.p.job(r)}
		t.recs[r] = x
		t.order = append(t.order, x)
		todo = append(todo, x)
	}
	var rs []*record
	for _, c := range kids {
		if r := t.records[c.Ref]; r != nil && !r.exists && !r.changed && !slices.Contains(rs, r) {
			rs = append(rs, r)
		}
	}
	return parallel(len(todo)+len(rs), func(i int) error {
		if i < len(todo) {
			return t.b.read(t.ctx, todo[i])
		}
		return t.b.readRecord(t.ctx, rs[i-len(todo)])
	})
}

// markerData is the data of a bubble-down's marker.
type markerData struct {
	Done int    `json:"d"`  // children handled
	At   int64  `json:"at"` // when it last advanced, Unix ms
	Op   string `json:"op,omitempty"`
}

// bubble is the state of a bubble-down in steps.
type bubble struct {
	parent   store.Ref
	children []store.Child
	done     int  // children handled
	next     int  // children handled once the step being built commits
	max      int  // children per step
	finished bool // no marker left
}

// take returns the children of the next step.
func (bb *bubble) take() []store.Child {
	return bb.children[bb.done:min(len(bb.children), bb.done+bb.max)]
}

// mark writes the marker of bb in t, after a step up to done: removes it
// when every child is done, else writes how far the bubble-down got.
// version is the marker's, -1 if there is none.
func (t *txn) mark(bb *bubble, done int, version int32) {
	path := t.b.p.marker(bb.parent)
	if done >= len(bb.children) {
		if version >= 0 {
			t.add(&zk.DeleteRequest{Path: path, Version: version}, nil)
		}
		return
	}
	data, _ := json.Marshal(markerData{Done: done, At: t.now, Op: t.op})
	if t.probe == "" {
		t.probe = path
	}
	if version >= 0 {
		t.add(&zk.SetDataRequest{Path: path, Data: data, Version: version}, nil)
	} else {
		t.add(&zk.CreateRequest{Path: path, Data: data, Acl: t.b.acl}, nil)
	}
}

// readMarker returns the marker of parent and its version, or false.
func (b *Backend) readMarker(ctx context.Context, parent store.Ref) (markerData, int32, bool, error) {
	var m markerData
	path := b.p.marker(parent)
	var data []byte
	var st *zk.Stat
	err := b.retry(ctx, func() error {
		var err error
		data, st, err = b.conn.Get(path)
		return err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return m, -1, false, nil
	}
	if err != nil {
		return m, -1, false, b.wrap(path, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, -1, false, fmt.Errorf("zookeeper %s: %s: bad marker %q", b.hosts, path, data)
	}
	return m, st.Version, true, nil
}

// firstStep is the bubble-down part of the first step of a completion of
// bb.parent (completed in t with priority prio), with the children read by
// prepare from bb.take(): those, and a marker if more are left.
func (t *txn) firstStep(bb *bubble, k kids, prio int) error {
	if err := t.bubbleDown(bb.parent, k, prio); err != nil {
		return err
	}
	bb.next = len(bb.take())
	bb.finished = bb.next == len(bb.children)
	version := int32(-1)
	if !bb.finished {
		// A marker of an earlier completion may be there.
		_, v, ok, err := t.b.readMarker(t.ctx, bb.parent)
		if err != nil {
			return err
		}
		if ok {
			version = v
		}
	}
	t.mark(bb, bb.next, version)
	return nil
}

// nextStep is a further step of bb: it reads the marker and the parent,
// and handles the next children from where the marker says.
func (t *txn) nextStep(bb *bubble) error {
	m, version, ok, err := t.b.readMarker(t.ctx, bb.parent)
	if err != nil || !ok {
		bb.next, bb.finished = len(bb.children), true
		return err
	}
	bb.done = m.Done
	kids := bb.take()
	k, err := t.prepare(kids, bb.parent)
	if err != nil {
		return err
	}
	x := t.get(bb.parent)
	if !x.present || x.cur.State != store.Completed || m.Done >= len(bb.children) {
		// Reset since (or the children changed): nothing left to do.
		t.reset()
		t.add(&zk.DeleteRequest{Path: t.b.p.marker(bb.parent), Version: version}, nil)
		bb.next, bb.finished = len(bb.children), true
		return nil
	}
	if err := t.bubbleDown(bb.parent, k, x.cur.Prio); err != nil {
		return err
	}
	bb.next = m.Done + len(kids)
	bb.finished = bb.next >= len(bb.children)
	t.mark(bb, bb.next, version)
	return nil
}

// reset forgets what t read, so that its commit depends on none of it.
func (t *txn) reset() {
	t.recs, t.order = map[store.Ref]*rec{}, nil
	t.records, t.rorder, t.extra = map[store.Ref]*record{}, nil, nil
}

// first runs the first step of a bubble-down (a completion), with fewer
// children while it is too big for one multi-op.
func (b *Backend) first(ctx context.Context, bb *bubble, what string, build func(t *txn) error) error {
	for {
		err := b.update(ctx, what, build)
		if errors.Is(err, errTooBig) && bb.max > 0 {
			bb.max /= 2
			continue
		}
		if err == nil {
			bb.done = bb.next
		}
		return err
	}
}

// steps runs the steps of bb after its first until none is left, calling
// the step hook before each.
func (b *Backend) steps(ctx context.Context, bb *bubble) error {
	for !bb.finished {
		if err := store.Step(ctx, bb.parent, bb.done); err != nil {
			return err
		}
		if err := b.step(ctx, bb); err != nil {
			return err
		}
	}
	return nil
}

// step runs one further step of bb, made of fewer children while it is
// too big for one multi-op.
func (b *Backend) step(ctx context.Context, bb *bubble) error {
	bb.max = max(bb.max, 1)
	for {
		err := b.update(ctx, "bubble-down of "+bb.parent.String(), func(t *txn) error {
			return t.nextStep(bb)
		})
		if errors.Is(err, errTooBig) && bb.max > 1 {
			bb.max /= 2
			continue
		}
		if err == nil {
			bb.done = bb.next
		}
		return err
	}
}

// Unfinished lists the jobs whose bubble-down left a marker that has not
// advanced for idle (see store.Backend).
func (b *Backend) Unfinished(ctx context.Context, idle time.Duration, n int) ([]store.Ref, error) {
	names, err := b.children(ctx, b.p.bubble())
	if err != nil {
		return nil, err
	}
	ms := make([]markerData, len(names))
	there := make([]bool, len(names))
	refs := make([]store.Ref, len(names))
	err = parallel(len(names), func(i int) error {
		r, err := parseRefName(names[i])
		if err != nil {
			return nil // not ours
		}
		refs[i] = r
		ms[i], _, there[i], err = b.readMarker(ctx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []store.Ref
	for i := range names {
		if there[i] && ms[i].At+idle.Milliseconds() <= b.now() && len(out) < n {
			out = append(out, refs[i])
		}
	}
	return out, nil
}

// Resume finishes the bubble-down of parent from its marker (see
// store.Backend).
func (b *Backend) Resume(ctx context.Context, parent store.Ref, children []store.Child) error {
	if err := store.CheckComplete(store.Lease{Ref: parent}, children); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	bb := &bubble{parent: parent, children: children, max: store.Batch}
	if err := b.step(ctx, bb); err != nil {
		return err
	}
	return b.steps(ctx, bb)
}
