package zookeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stolos-sched/stolos/lib/store"
)

// Bubble-down (DESIGN.md, "Fan-in records" and "Bubble-down in bounded
// steps"). A child of one parent needs no record: the parent being
// completed, the child is ready. A child of several has a fan-in record:
// its parents fall by a hash of their names into shards (the record node
// itself for fewer than 2*shardParents parents), each a node whose data
// holds how many parents fall in it and how many of those are missing, with
// one child node per parent of its set; the record node counts the shards
// that are full. A parent's completion creates its node in its shard and
// lowers the shard's count, checking the shard's version: the create fails
// if the parent was in the set already (a re-run), so a count goes down
// once per parent, and two parents completing at once conflict only when
// they fall in the same shard, not on all their siblings. The completion
// that fills a shard also counts it full in the record (checking the
// record's version), so exactly one completion sees the last shard fill.
// When the set is full and the child needs queueing (absent, or pending
// and not queued), the parents are read, once: if all are completed the
// child is queued, else those that are not (reset by -readd or -set since)
// leave the set and count as missing again. A record is built from the
// parents' states by a completion that finds none while the child needs
// queueing, and removed by the one that queues the child, unless it has
// more than maxDrop nodes (then it is kept, and behaves the same).

// faninData is the data of a fan-in record's node or of one of its shards.
type faninData struct {
	N       int    `json:"n,omitempty"` // record: the child's parents
	Full    int    `json:"f,omitempty"` // record of several shards: those full
	Target  int    `json:"t,omitempty"` // shard of several: the parents that fall in it
	Missing int    `json:"m,omitempty"` // shard, or record of one: of its parents, those not in the set
	Op      string `json:"op,omitempty"`
}

// shardParents is about how many parents fall in one shard of a record,
// and maxShards bounds their number.
const (
	shardParents = 16
	maxShards    = 1024
)

// shards is the number of shards of a record of n parents: 1 when the
// record is its own one shard.
func shards(n int) int {
	if n < 2*shardParents {
		return 1
	}
	return min(maxShards, (n+shardParents-1)/shardParents)
}

// shardOf is the shard, of k, that parent falls in.
func shardOf(parent store.Ref, k int) int {
	h := fnv.New32a()
	h.Write([]byte(refName(parent)))
	return int(h.Sum32() % uint32(k))
}

// shardPath is the path of shard i of the record at rec, of n parents.
func shardPath(rec string, n, i int) string {
	if shards(n) == 1 {
		return rec
	}
	return rec + "/" + subName(i)
}

// fnode is a node of a fan-in record (the record or a shard) as a
// transaction read it, and as it will write it.
type fnode struct {
	app     string // the child's
	path    string
	read    bool // loaded (or created by t)
	exists  bool // when read
	version int32
	d       faninData
	changed bool
	checked bool // the transaction depends on it: check its version
}

// node registers a node of a fan-in record in t, to be read by loadAll
// unless t creates it.
func (t *txn) node(child store.Ref, path string) *fnode {
	if r := t.records[path]; r != nil {
		return r
	}
	r := &fnode{app: child.App, path: path}
	t.records[path] = r
	t.rorder = append(t.rorder, r)
	return r
}

// readNode fills r from its node.
func (b *Backend) readNode(ctx context.Context, r *fnode) error {
	data, st, err := b.getData(ctx, r.path)
	r.read = true
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return b.wrap(r.path, err)
	}
	if err := json.Unmarshal(data, &r.d); err != nil || r.d.Missing < 0 || r.d.Full < 0 {
		return fmt.Errorf("zookeeper %s: %s: bad fan-in record %q", b.hosts, r.path, data)
	}
	r.exists, r.version = true, st.Version
	return nil
}

// recordOps returns the operations on the record nodes t changed or
// depends on, parents before children, which go before its other extra
// operations (the nodes of the sets).
func (t *txn) recordOps() []any {
	var out []any
	nodes := slices.Clone(t.rorder)
	slices.SortStableFunc(nodes, func(a, b *fnode) int {
		return strings.Count(a.path, "/") - strings.Count(b.path, "/")
	})
	for _, r := range nodes {
		switch {
		case r.changed:
			r.d.Op = t.op
			data, _ := json.Marshal(r.d)
			if t.probe == "" {
				t.probe = r.path
			}
			if !r.exists {
				out = append(out, &zk.CreateRequest{Path: r.path, Data: data, Acl: t.b.acl})
				if dir := path.Dir(r.path); t.records[dir] == nil {
					t.dirs = append(t.dirs, dir) // a record's bucket, not a shard's record
				}
			} else {
				out = append(out, &zk.SetDataRequest{Path: r.path, Data: data, Version: r.version})
			}
		case r.checked && r.exists:
			out = append(out, &zk.CheckVersionRequest{Path: r.path, Version: r.version})
		}
	}
	return out
}

// kid is a child in one step of a bubble-down, with what it needs.
type kid struct {
	store.Child
	i     int    // its index in the children of the step
	n     int    // parents
	rec   string // its record's path, if n > 1
	shard string // the shard the parent falls in
}

// kids is the children of one step of a bubble-down, sorted by what they
// need.
type kids struct {
	direct []store.Child // of one parent: ready
	recs   []kid         // of several: they have a fan-in record
}

// prepare reads, in t, what the bubble-down of some children of parent
// needs, with the jobs also: the jobs of the children of one parent (taken
// for absent on a first attempt) and the shards of the others' records
// that parent falls in.
func (t *txn) prepare(parent store.Ref, children []store.Child, also ...store.Ref) (kids, error) {
	var k kids
	jobs := also
	var nodes []*fnode
	for i, c := range children {
		ps, err := t.b.parents.Of(c, 1)
		if err != nil {
			return k, err
		}
		n := len(ps)
		if n <= 1 {
			t.assumeAbsent(c.Ref)
			k.direct = append(k.direct, c)
			jobs = append(jobs, c.Ref)
			continue
		}
		rec := t.b.p.record(c.Ref)
		sp := shardPath(rec, n, shardOf(parent, shards(n)))
		k.recs = append(k.recs, kid{Child: c, i: i, n: n, rec: rec, shard: sp})
		nodes = append(nodes, t.node(c.Ref, sp))
	}
	return k, t.loadAll(jobs, nodes)
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
	// if it needs queueing; one whose parent's shard is full may be ready:
	// its record says.
	var full, fresh, maybe []kid
	filled := map[store.Ref]bool{} // the shard became full in t
	seen := map[store.Ref]bool{}
	if err := t.probeSets(parent, k.recs); err != nil {
		return err
	}
	for _, c := range k.recs {
		if seen[c.Ref] {
			continue
		}
		seen[c.Ref] = true
		s := t.node(c.Ref, c.shard)
		if !s.exists {
			fresh = append(fresh, c)
			continue
		}
		if s.d.Missing > 0 {
			t.addToSet(s, parent)
			filled[c.Ref] = s.d.Missing == 0
		}
		switch {
		case s.d.Missing > 0:
		case c.shard == c.rec:
			full = append(full, c)
		default:
			maybe = append(maybe, c)
		}
	}
	if len(full)+len(fresh)+len(maybe) == 0 {
		return nil
	}
	var refs []store.Ref
	var nodes []*fnode
	for _, c := range slices.Concat(full, fresh, maybe) {
		t.assumeAbsent(c.Ref)
		refs = append(refs, c.Ref)
	}
	for _, c := range maybe {
		nodes = append(nodes, t.node(c.Ref, c.rec))
	}
	if err := t.loadAll(refs, nodes); err != nil {
		return err
	}
	for _, c := range maybe {
		r := t.node(c.Ref, c.rec)
		if !r.exists {
			return fmt.Errorf("zookeeper %s: %s: fan-in record without its node", t.b.hosts, c.rec)
		}
		if filled[c.Ref] {
			r.d.Full++
			r.changed = true
		}
		if r.d.Full >= shards(r.d.N) {
			full = append(full, c)
		} else {
			t.forget(c.Ref) // not ready: its job does not matter
		}
	}
	for _, c := range fresh {
		if !t.needsQueueing(c.Ref) {
			continue // its version is checked
		}
		if err := t.build(parent, c, prio); err != nil {
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

// probeSets looks, on an attempt after the first, which of the nodes
// parent would add to the sets of kids' records exist already, so that a
// completion made again (whose nodes are there) fails one commit, not one
// per child.
func (t *txn) probeSets(parent store.Ref, kids []kid) error {
	if t.first {
		return nil
	}
	var paths []string
	for _, c := range kids {
		s := t.records[c.shard]
		if s.exists && s.d.Missing > 0 {
			paths = append(paths, c.shard+"/"+refName(parent))
		}
	}
	there, err := t.b.exist(t.ctx, paths)
	for i, p := range paths {
		if there[i] {
			t.inSet[p] = true
		}
	}
	return err
}

// exist says which of paths exist.
func (b *Backend) exist(ctx context.Context, paths []string) ([]bool, error) {
	there := make([]bool, len(paths))
	err := parallel(len(paths), func(i int) error {
		err := b.retry(ctx, func() error {
			var err error
			there[i], _, err = b.conn.Exists(paths[i])
			return err
		})
		if err != nil {
			return b.wrap(paths[i], err)
		}
		return nil
	})
	return there, err
}

// forget drops a job t read and did not change, so that its commit does
// not check it.
func (t *txn) forget(r store.Ref) {
	x := t.recs[r]
	if x == nil || x.changed {
		return
	}
	delete(t.recs, r)
	t.order = slices.DeleteFunc(t.order, func(y *rec) bool { return y == x })
}

// needsQueueing reports whether a child loaded in t is absent, or pending
// and not queued.
func (t *txn) needsQueueing(r store.Ref) bool {
	x := t.get(r)
	return !x.present || x.cur.State == store.Pending && x.cur.Q == ""
}

// parentStates reads the parents of c and says which are completed.
func (t *txn) parentStates(c store.Child) ([]store.Ref, []bool, error) {
	ps, err := t.b.parents.Of(c, 1)
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
// parents' states, or queues the child if all are completed. A record
// whose set would start with more than buildStep parents is built in
// steps (t.building, catchUp).
func (t *txn) build(parent store.Ref, c kid, prio int) error {
	ps, done, err := t.parentStates(c.Child)
	if err != nil {
		return err
	}
	n := len(ps)
	k := shards(n)
	rec := t.node(c.Ref, c.rec)
	rec.d, rec.changed, rec.read = faninData{N: n}, true, true
	nodes := []*fnode{rec}
	if k > 1 {
		for i := range k {
			s := t.node(c.Ref, shardPath(c.rec, n, i))
			s.d, s.changed, s.read, s.exists = faninData{}, true, true, false
			nodes = append(nodes, s)
		}
		for _, p := range ps {
			s := nodes[1+shardOf(p, k)]
			s.d.Target++
			s.d.Missing++
		}
	} else {
		rec.d.Missing = n
	}
	completed := 0
	for i := range ps {
		if done[i] {
			completed++
		}
	}
	if k > 1 && completed > buildStep && completed < n {
		// Too many for one multi-op: the record is made with only the
		// parent completing in t in its set, and the bubble-down's next
		// steps add the others (catchUp), its marker saying how far.
		if t.building != nil {
			return errTooBig // one per step: the step is made smaller
		}
		t.building = &c
		for i, p := range ps {
			if done[i] && p == parent {
				t.addToSet(t.node(c.Ref, shardPath(c.rec, n, shardOf(p, k))), p)
			}
		}
		for _, s := range nodes[1:] {
			if s.d.Missing == 0 {
				rec.d.Full++
			}
		}
		return nil
	}
	for i, p := range ps {
		if done[i] {
			t.addToSet(t.node(c.Ref, shardPath(c.rec, n, shardOf(p, k))), p)
		}
	}
	ready := rec.d.Missing == 0
	if k > 1 {
		for _, s := range nodes[1:] {
			if s.d.Missing == 0 {
				rec.d.Full++
			}
		}
		ready = rec.d.Full == k
	}
	if !ready {
		return nil
	}
	for _, s := range nodes { // no record needed
		s.changed = false
	}
	t.dropSet(c.rec)
	return t.queueNode(c.Node, prio)
}

// dropSet takes back the nodes of the set of the record at rec that t was
// to create.
func (t *txn) dropSet(rec string) {
	t.extra = slices.DeleteFunc(t.extra, func(e any) bool {
		c, ok := e.(*zk.CreateRequest)
		return ok && strings.HasPrefix(c.Path, rec+"/")
	})
}

// addToSet adds parent to the set of its shard s, unless t saw it there
// (then the commit checks the shard, which changes whenever its set does).
func (t *txn) addToSet(s *fnode, parent store.Ref) {
	path := s.path + "/" + refName(parent)
	if t.inSet[path] {
		s.checked = true
		return
	}
	for _, e := range t.extra {
		if c, ok := e.(*zk.CreateRequest); ok && c.Path == path {
			return // added in t already
		}
	}
	t.add(&zk.CreateRequest{Path: path, Acl: t.b.acl})
	s.d.Missing--
	s.changed = true
}

// checkParents reads the parents of a child whose set is full and queues
// it if all are completed; those that are not leave the set.
func (t *txn) checkParents(c kid, prio int) error {
	ps, done, err := t.parentStates(c.Child)
	if err != nil {
		return err
	}
	rec := t.node(c.Ref, c.rec)
	rec.checked = true
	n := rec.d.N
	k := shards(n)
	var nodes []*fnode // the shards of the parents not completed
	var entries []string
	for i, p := range ps {
		if !done[i] {
			s := t.node(c.Ref, shardPath(c.rec, n, shardOf(p, k)))
			nodes = append(nodes, s)
			entries = append(entries, s.path+"/"+refName(p))
		}
	}
	if len(nodes) == 0 {
		if len(ps) == n {
			t.drop(c, ps)
		}
		return t.queueNode(c.Node, prio)
	}
	if len(nodes) > maxRemove {
		// The others stay in the set for now: the record is not full
		// again before those taken out complete, and then the next
		// check finds them.
		nodes, entries = nodes[:maxRemove], entries[:maxRemove]
	}
	// Those in the set leave it (a parent not in it is already missing).
	if err := t.loadAll(nil, nodes); err != nil {
		return err
	}
	there, err := t.b.exist(t.ctx, entries)
	if err != nil {
		return err
	}
	for i, s := range nodes {
		if !there[i] || !s.exists {
			continue
		}
		t.add(&zk.DeleteRequest{Path: entries[i], Version: -1})
		if s.d.Missing == 0 && k > 1 {
			rec.d.Full--
			rec.changed = true
		}
		s.d.Missing++
		s.changed = true
	}
	return nil
}

// maxRemove bounds the parents one check takes out of a set (about
// 300 KB of a multi-op).
const maxRemove = 1024

// maxDrop bounds the nodes of a record that the step queueing its child
// removes: a bigger record is kept (it would take steps of its own).
const maxDrop = 1000

// drop removes, in t, the full record of a child being queued, if it has
// at most maxDrop nodes: the nodes of its set, its shards, itself.
func (t *txn) drop(c kid, ps []store.Ref) {
	n := len(ps)
	k := shards(n)
	if n+k+1 > maxDrop {
		return
	}
	for _, p := range ps {
		t.add(&zk.DeleteRequest{Path: shardPath(c.rec, n, shardOf(p, k)) + "/" + refName(p), Version: -1})
	}
	if k > 1 {
		for i := range k {
			t.add(&zk.DeleteRequest{Path: shardPath(c.rec, n, i), Version: -1})
		}
	}
	t.add(&zk.DeleteRequest{Path: c.rec, Version: -1})
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

// loadAll reads the jobs refs and the record nodes not read yet, all at
// once.
func (t *txn) loadAll(refs []store.Ref, nodes []*fnode) error {
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
	var rs []*fnode
	for _, r := range nodes {
		if !r.read && !slices.Contains(rs, r) {
			rs = append(rs, r)
		}
	}
	return parallel(len(todo)+len(rs), func(i int) error {
		if i < len(todo) {
			return t.b.read(t.ctx, todo[i])
		}
		return t.b.readNode(t.ctx, rs[i-len(todo)])
	})
}

// markerData is the data of a bubble-down's marker.
type markerData struct {
	Done int   `json:"d"`  // children handled
	At   int64 `json:"at"` // when it last advanced, Unix ms
	// Building: the record of child number Done is being built, its
	// parents before number Build added to its set (catchUp).
	Building bool   `json:"bg,omitempty"`
	Build    int    `json:"b,omitempty"`
	Op       string `json:"op,omitempty"`
	// Readd: the marker of a readd in steps (Done counts descendants
	// reset), not of a bubble-down.
	Readd bool `json:"rd,omitempty"`
}

// bubble is the state of a bubble-down in steps.
type bubble struct {
	parent   store.Ref
	children []store.Child
	done     int  // children handled
	next     int  // children handled once the step being built commits
	max      int  // children per step
	finished bool // no marker left
	building bool // the record of child next is being built ...
	build    int  // ... its parents before this one added
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
			t.add(&zk.DeleteRequest{Path: path, Version: version})
		}
		return
	}
	t.putMarker(bb.parent, markerData{Done: done, At: t.now, Building: bb.building, Build: bb.build, Op: t.op}, version)
}

// readMarker returns the marker of parent and its version, or false.
func (b *Backend) readMarker(ctx context.Context, parent store.Ref) (markerData, int32, bool, error) {
	var m markerData
	path := b.p.marker(parent)
	data, st, err := b.getData(ctx, path)
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
	t.stopAtBuild(bb, 0)
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
	if err != nil || !ok || m.Readd {
		bb.next, bb.finished = len(bb.children), true
		return err
	}
	bb.done = m.Done
	bb.building = false
	if m.Building && m.Done < len(bb.children) {
		return t.catchUpStep(bb, m, version)
	}
	kids := bb.take()
	k, err := t.prepare(bb.parent, kids, bb.parent)
	if err != nil {
		return err
	}
	x := t.get(bb.parent)
	if !x.present || x.cur.State != store.Completed || m.Done >= len(bb.children) {
		// Reset since (or the children changed): nothing left to do.
		t.reset()
		t.add(&zk.DeleteRequest{Path: t.b.p.marker(bb.parent), Version: version})
		bb.next, bb.finished = len(bb.children), true
		return nil
	}
	if err := t.bubbleDown(bb.parent, k, x.cur.Prio); err != nil {
		return err
	}
	bb.next = m.Done + len(kids)
	t.stopAtBuild(bb, m.Done)
	t.mark(bb, bb.next, version)
	return nil
}

// stopAtBuild ends the step of bb made in t (from child number from) at
// the child whose record t started to build in steps, if any: the
// marker then points at it, and the next steps build it (catchUp). The
// children after it that t handled are handled again by the steps after
// those, which changes nothing.
func (t *txn) stopAtBuild(bb *bubble, from int) {
	bb.building, bb.build = false, 0
	if t.building != nil {
		bb.next, bb.building = from+t.building.i, true
	}
	bb.finished = bb.next >= len(bb.children)
}

// buildStep is the most parents a step adds to the set of a record being
// built: with their shards, about 70 KB of a multi-op.
const buildStep = 256

// catchUpStep is a step of bb that goes on building the record of its
// child number m.Done, which its marker says is being built.
func (t *txn) catchUpStep(bb *bubble, m markerData, version int32) error {
	if err := t.load(bb.parent); err != nil {
		return err
	}
	x := t.get(bb.parent)
	if !x.present || x.cur.State != store.Completed {
		t.reset()
		t.add(&zk.DeleteRequest{Path: t.b.p.marker(bb.parent), Version: version})
		bb.next, bb.finished = len(bb.children), true
		return nil
	}
	t.forget(bb.parent) // its version does not matter
	cursor, done, err := t.catchUp(bb.parent, bb.children[m.Done], m.Build, x.cur.Prio)
	if err != nil {
		return err
	}
	bb.next, bb.building, bb.build = m.Done, !done, cursor
	if done {
		bb.next, bb.build = m.Done+1, 0
	}
	bb.finished = bb.next >= len(bb.children)
	t.mark(bb, bb.next, version)
	return nil
}

// catchUp adds to the set of the record of c (being built) the parents
// from number from that are completed and not in it yet, up to
// buildStep of them, reading at most 8*buildStep parents. It returns the
// number of the first parent it did not look at, and whether the build
// is over: every parent looked at, the record gone, or every shard full
// (then the child is queued if it needs it and its parents are all
// completed, as checkParents does).
func (t *txn) catchUp(parent store.Ref, ch store.Child, from, prio int) (int, bool, error) {
	ps, err := t.b.parents.Of(ch, 1)
	if err != nil {
		return from, false, err
	}
	n := len(ps)
	k := shards(n)
	c := kid{Child: ch, n: n, rec: t.b.p.record(ch.Ref)}
	rec := t.node(c.Ref, c.rec)
	if err := t.loadAll(nil, []*fnode{rec}); err != nil {
		return from, false, err
	}
	if !rec.exists || rec.d.N != n || k == 1 {
		t.reset()
		return n, true, nil // removed (the child was queued), or not ours
	}
	end := min(n, from+8*buildStep)
	jobs, err := t.peek(ps[from:end])
	if err != nil {
		return from, false, err
	}
	var cand []int
	var paths []string
	for i, j := range jobs {
		if j.State == store.Completed {
			p := ps[from+i]
			cand = append(cand, from+i)
			paths = append(paths, shardPath(c.rec, n, shardOf(p, k))+"/"+refName(p))
		}
	}
	there, err := t.b.exist(t.ctx, paths)
	if err != nil {
		return from, false, err
	}
	var adds []int
	var nodes []*fnode
	cursor := end
	for i, at := range cand {
		if there[i] {
			continue
		}
		if len(adds) == buildStep {
			cursor = at
			break
		}
		adds = append(adds, at)
		nodes = append(nodes, t.node(c.Ref, shardPath(c.rec, n, shardOf(ps[at], k))))
	}
	if err := t.loadAll(nil, nodes); err != nil {
		return from, false, err
	}
	for _, at := range adds {
		p := ps[at]
		s := t.node(c.Ref, shardPath(c.rec, n, shardOf(p, k)))
		if !s.exists {
			return from, false, fmt.Errorf("zookeeper %s: %s: fan-in record without its shard", t.b.hosts, s.path)
		}
		t.addToSet(s, p)
		if s.d.Missing == 0 {
			rec.d.Full++
			rec.changed = true
		}
	}
	if rec.d.Full < k {
		return cursor, cursor >= n, nil
	}
	// Every parent is in the set: queue the child if it needs it.
	if err := t.load(c.Ref); err != nil {
		return cursor, false, err
	}
	if t.needsQueueing(c.Ref) {
		if err := t.checkParents(c, prio); err != nil {
			return cursor, false, err
		}
	}
	return n, true, nil
}

// reset forgets what t read, so that its commit depends on none of it.
func (t *txn) reset() {
	t.recs, t.order = map[store.Ref]*rec{}, nil
	t.records, t.rorder, t.extra = map[string]*fnode{}, nil, nil
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
// the step hook before each. Its errors wrap store.ErrUnfinished.
func (b *Backend) steps(ctx context.Context, bb *bubble) error {
	for !bb.finished {
		err := store.Step(ctx, bb.parent, bb.done)
		if err == nil {
			err = b.step(ctx, bb)
		}
		if err != nil {
			return fmt.Errorf("%w: children from %d of %d: %w", store.ErrUnfinished, bb.done, len(bb.children), err)
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
func (b *Backend) Unfinished(ctx context.Context, idle time.Duration, n int) ([]store.Marker, error) {
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
	var out []store.Marker
	for i := range names {
		if there[i] && ms[i].At+idle.Milliseconds() <= b.now() && len(out) < n {
			out = append(out, store.Marker{Ref: refs[i], Readd: ms[i].Readd})
		}
	}
	return out, nil
}

// Resume finishes the bubble-down of parent from its marker (see
// store.Backend).
func (b *Backend) Resume(ctx context.Context, parent store.Ref, children []store.Child) error {
	bb := &bubble{parent: parent, children: children, max: store.Batch}
	if err := b.step(ctx, bb); err != nil {
		return err
	}
	return b.steps(ctx, bb)
}
