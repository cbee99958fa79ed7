package zookeeper

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/stolos-sched/stolos/lib/store"
)

// A limit (store.Limit) is a set of slot nodes,
//
//	/limits/<name>/<i>    data: the app TAB job id of the job that took it
//
// for i below the limit's Max. A claim takes a slot of each of its limits
// for each job it claims, in its multi-op: it creates a slot that is not
// there, or overwrites (version-checked) one that is free, so two claims
// never take the same slot. A slot is free when its job holds no live
// lease, or a slot listed before it names the same job: slots
// are freed lazily, by the claim that next looks, and a job that ends
// (completed, failed, parked, released, its lease expired) needs no
// write of its slot. The claim reads the slots and their jobs before its
// multi-op; a job seen without a live lease never gets one back under
// that lease (a new lease of it is a new claim, which takes a slot of its
// own, preferring the one naming it), so a slot seen free stays free.
func (p paths) limits() string { return p.root + "/limits" }

func (p paths) limit(name string) string { return p.limits() + "/" + escapeName(name) }

// slot is a free slot of a limit as a claim read it.
type slot struct {
	path    string
	version int32     // -1: absent, create it
	job     store.Ref // the job it names, if any
}

// slotSet is the free slots of the limits of a claim, for limits[i].
type slotSet [][]slot

// readSlots reads the free slots of each limit, and the room they leave
// a claim of at most n jobs (and the limit that leaves fewer, if any).
// The lease of ending, if any, is taken as ended.
func (b *Backend) readSlots(ctx context.Context, limits []store.Limit, n int, ending store.Ref) (slotSet, int, string, error) {
	free := make(slotSet, len(limits))
	running := make([]int, len(limits))
	now := b.now()
	// The limits are read in parallel, each in a few rounds of parallel
	// reads: its slot list, its slots, their jobs.
	err := parallel(len(limits), func(i int) error {
		l := limits[i]
		dir := b.p.limit(l.Name)
		if err := b.ensure(ctx, dir); err != nil {
			return err
		}
		names, err := b.children(ctx, dir)
		if err != nil {
			return b.wrap(dir, err)
		}
		taken := make([]slot, len(names))
		mtime := make([]int64, len(names))
		if err := parallel(len(names), func(k int) error {
			p := dir + "/" + names[k]
			return b.retry(ctx, func() error {
				data, st, err := b.conn.Get(p)
				if err == zk.ErrNoNode {
					taken[k] = slot{path: p, version: -1}
					return nil
				}
				if err != nil {
					return err
				}
				taken[k] = slot{path: p, version: st.Version}
				mtime[k] = st.Mtime
				if app, id, ok := strings.Cut(string(data), "\t"); ok {
					taken[k].job = store.Ref{App: app, JobID: id}
				}
				return nil
			})
		}); err != nil {
			return b.wrap(dir, err)
		}
		refs := make([]store.Ref, len(taken))
		for k, s := range taken {
			refs[k] = s.job
		}
		jobs, err := b.getSome(ctx, refs)
		if err != nil {
			return err
		}
		exist := map[int]bool{}
		var old []int // free slots there, by index in taken
		counted := map[store.Ref]bool{}
		for k, s := range taken {
			num, err := strconv.Atoi(names[k])
			if err == nil && num < l.Max {
				exist[num] = true
			}
			live := s.version >= 0 && s.job.App != "" && s.job != ending && jobs[k].Owner != "" && jobs[k].Until.UnixMilli() > now && !counted[s.job]
			if live {
				counted[s.job] = true
				running[i]++
			}
			if err == nil && num < l.Max && !live {
				old = append(old, k)
			}
		}
		// The free slots that are there, least lately written first
		// (one lately freed is likely another backend's next, which it
		// knows free: see knownFree), and as many missing ones (the
		// lowest) as make n; the missing ones first unless a free one
		// there would be left: a claim takes a slot no other backend
		// knows free while one is, and there are at most n more slots
		// than jobs running. The work is in the slots there and n, not in
		// Max, which may be large.
		slices.SortStableFunc(old, func(x, y int) int { return cmp.Compare(mtime[x], mtime[y]) })
		var there, missing []slot
		for _, k := range old {
			there = append(there, taken[k])
		}
		for num := 0; num < l.Max && len(missing) < n; num++ {
			if !exist[num] {
				missing = append(missing, slot{path: dir + "/" + strconv.Itoa(num), version: -1})
			}
		}
		if len(there) > n {
			free[i] = append(there, missing...)
		} else {
			free[i] = append(missing, there...)
		}
		return nil
	})
	if err != nil {
		return nil, 0, "", err
	}
	n, by := store.Room(limits, running, n)
	return free, n, by, nil
}

// getSome is Get of refs, with the zero Ref read as absent.
func (b *Backend) getSome(ctx context.Context, refs []store.Ref) ([]store.Job, error) {
	var some []store.Ref
	var at []int
	for k, r := range refs {
		if r.App != "" && r.JobID != "" {
			some = append(some, r)
			at = append(at, k)
		}
	}
	got, err := b.Get(ctx, some)
	if err != nil {
		return nil, err
	}
	out := make([]store.Job, len(refs))
	for k, j := range got {
		out[at[k]] = j
	}
	return out, nil
}

// take adds to t the operations that give job one free slot of each
// limit (the one that names it, if any), and removes them from s. A limit
// has at least as many free slots as the room readSlots found.
func (t *txn) take(s slotSet, job store.Ref) error {
	data := []byte(job.App + "\t" + job.JobID)
	for i := range s {
		if len(s[i]) == 0 {
			return fmt.Errorf("zookeeper %s: claim %v: no free slot left (a bug)", t.b.hosts, job)
		}
		k := 0
		for j, sl := range s[i] {
			if sl.job == job {
				k = j
				break
			}
		}
		sl := s[i][k]
		s[i] = append(s[i][:k:k], s[i][k+1:]...)
		v := int32(0) // a created node's version
		if sl.version < 0 {
			t.add(&zk.CreateRequest{Path: sl.path, Data: data, Acl: t.b.acl})
		} else {
			t.add(&zk.SetDataRequest{Path: sl.path, Data: data, Version: sl.version})
			v = sl.version + 1
		}
		if t.took == nil {
			t.took = map[store.Ref][]slot{}
		}
		t.took[job] = append(t.took[job], slot{path: sl.path, version: v, job: job})
	}
	return nil
}

// limited is what a claim's limits let it take: the free slots, the room
// (at most the number of candidates), and the limit that leaves less
// room than that ("" if none).
type limited struct {
	free slotSet
	room int
	by   string
}

// limitsFor is the limits of req for a claim of n candidates in t; nil
// when req has none. The lease ending is taken as ended (the claim's
// multi-op completes it). The slots this backend knows free do, if each
// limit has n of them (knownFree); otherwise it reads them (readSlots).
func (t *txn) limitsFor(req store.ClaimRequest, n int, ending store.Lease) (*limited, error) {
	if len(req.Limits) == 0 {
		return nil, nil
	}
	if lim := t.knownFree(req.Limits, n, ending); lim != nil {
		return lim, nil
	}
	free, room, by, err := t.b.readSlots(t.ctx, req.Limits, n, ending.Ref)
	if err != nil {
		return nil, err
	}
	return &limited{free: free, room: room, by: by}, nil
}

// slotCache is what a backend knows of limits' slots: those its leases
// took (held, by job), and those known free (free, by limit's node), in
// knownFree's sense.
type slotCache struct {
	held map[store.Ref]heldSlots
	free map[string][]slot
}

// heldSlots are the slots a lease of this backend (token) took, each with
// the version its claim wrote.
type heldSlots struct {
	token string
	slots []slot
}

// knownFree is the limits of a claim of n jobs made of slots this backend
// knows free without reading anything, nil unless each limit has n of
// them. A slot is known free when the lease that wrote it (at its
// version) was this backend's and ended by a commit of this backend's
// (completed, failed, released, ...: its job then had no lease), or is
// ending, which the claim's commit ends. As for readSlots, such a slot
// stays free until written again, and the commit checks its version: if
// someone took it meanwhile, the commit fails, and the next attempt does
// without it. The slots of the backend's known free that it uses are taken
// off them (t.popped) until the commit settles (slotsSettled).
func (t *txn) knownFree(limits []store.Limit, n int, ending store.Lease) *limited {
	b := t.b
	b.mu.Lock()
	defer b.mu.Unlock()
	var mine []slot
	if h, ok := b.slots.held[ending.Ref]; ok && ending.Token != "" && h.token == ending.Token {
		mine = h.slots
	}
	free := make(slotSet, len(limits))
	var popped []slot
	for i, l := range limits {
		dir := b.p.limit(l.Name)
		for _, from := range [][]slot{mine, b.slots.free[dir]} {
			for _, sl := range from {
				if len(free[i]) < n && path.Dir(sl.path) == dir && slotBelow(sl.path, l.Max) && !slices.Contains(free[i], sl) {
					free[i] = append(free[i], sl)
					if !slices.Contains(mine, sl) {
						popped = append(popped, sl)
					}
				}
			}
		}
		if len(free[i]) < n {
			return nil
		}
	}
	for _, sl := range popped {
		dir := path.Dir(sl.path)
		b.slots.free[dir] = slices.DeleteFunc(b.slots.free[dir], func(f slot) bool { return f == sl })
	}
	t.popped = append(t.popped, popped...)
	return &limited{free: free, room: n}
}

// slotBelow reports whether the slot at p is numbered below max.
func slotBelow(p string, max int) bool {
	num, err := strconv.Atoi(path.Base(p))
	return err == nil && num < max
}

// slotsSettled updates the backend's known slots after an attempt at a
// transition: committed (ok), the leases of this backend that the commit
// ended leave their slots known free, those it took are held under the
// new leases, and the known free slots it took off and did not use are
// put back; not committed, those are put back unless the commit failed on
// one of them (someone else took it).
func (t *txn) slotsSettled(ok bool) {
	if len(t.popped) == 0 && len(t.took) == 0 && !t.endsHeld() {
		return
	}
	b := t.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if !ok {
		failed := ""
		for i, r := range t.res {
			if r.Error != nil {
				if i < len(t.sent) {
					failed = opPath(t.sent[i])
				}
				break
			}
		}
		for _, sl := range t.popped {
			if sl.path != failed {
				b.slots.free[path.Dir(sl.path)] = append(b.slots.free[path.Dir(sl.path)], sl)
			}
		}
		return
	}
	for _, x := range t.order {
		h, found := b.slots.held[x.ref]
		if !found || !x.changed {
			continue
		}
		ours := x.orig.Token == h.token || store.IsRevokedOf(x.orig.Token, h.token)
		switch {
		case ours && x.cur.Token == "":
			// The lease ended: its job runs no more under it.
			for _, sl := range h.slots {
				b.slots.free[path.Dir(sl.path)] = append(b.slots.free[path.Dir(sl.path)], sl)
			}
			delete(b.slots.held, x.ref)
		case !ours || (x.cur.Token != h.token && !store.IsRevokedOf(x.cur.Token, h.token)):
			// Another lease: not ours to free.
			delete(b.slots.held, x.ref)
		}
	}
	used := map[string]bool{}
	for ref, took := range t.took {
		for _, sl := range took {
			used[sl.path] = true
			dir := path.Dir(sl.path)
			b.slots.free[dir] = slices.DeleteFunc(b.slots.free[dir], func(f slot) bool { return f.path == sl.path })
		}
		if x := t.get(ref); x != nil && x.cur.Token != "" {
			b.slots.held[ref] = heldSlots{token: x.cur.Token, slots: took}
		}
	}
	for _, sl := range t.popped {
		if !used[sl.path] {
			b.slots.free[path.Dir(sl.path)] = append(b.slots.free[path.Dir(sl.path)], sl)
		}
	}
}

// endsHeld reports whether t writes a job a lease of this backend's took
// slots for.
func (t *txn) endsHeld() bool {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	for _, x := range t.order {
		if _, ok := t.b.slots.held[x.ref]; ok && x.changed {
			return true
		}
	}
	return false
}

// opPath is the node an operation of a multi-op is on.
func opPath(op any) string {
	switch op := op.(type) {
	case *zk.CreateRequest:
		return op.Path
	case *zk.SetDataRequest:
		return op.Path
	case *zk.DeleteRequest:
		return op.Path
	case *zk.CheckVersionRequest:
		return op.Path
	}
	return ""
}
