package zookeeper

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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
	Op           string      `json:"op,omitempty"` // the transaction that wrote it last
}

func (d *jobData) clearLease() { d.Owner, d.Token, d.Transferable, d.Until = "", "", false, 0 }

// live reports whether the job is under a lease at now.
func (d *jobData) live(now int64) bool { return d.Token != "" && d.Until > now }

// job converts the data to a store.Job.
func (d *jobData) job(ref store.Ref, exists bool) store.Job {
	j := store.Job{Ref: ref}
	if !exists {
		return j
	}
	j.State, j.Queued, j.Priority = d.State, d.Q != "", d.Prio
	j.Attempts, j.Outcome = d.Attempts, d.Outcome
	if d.Token != "" {
		j.Owner, j.Until = d.Owner, time.UnixMilli(d.Until)
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
}

// txn collects the reads and writes of one attempt at one transition.
type txn struct {
	b      *Backend
	ctx    context.Context
	now    int64
	recs   map[store.Ref]*rec
	order  []*rec
	notify map[string]bool
	blocks map[string][]uint64 // per app: unused queue positions
	op     string
}

var errConflict = errors.New("conflict")

// maxAttempts bounds the retries of a transition that keeps conflicting.
const maxAttempts = 200

// update runs build and commits what it did, again and again while the
// commit conflicts with a concurrent change. build must start from scratch
// each time (it is given a fresh txn).
func (b *Backend) update(ctx context.Context, what string, build func(t *txn) error) error {
	for attempt := 0; ; attempt++ {
		t := &txn{b: b, ctx: ctx, now: b.now(), recs: map[store.Ref]*rec{},
			notify: map[string]bool{}, blocks: map[string][]uint64{}, op: newToken()}
		if err := build(t); err != nil {
			return err
		}
		err := t.commit()
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

// load reads the jobs not read yet, in parallel.
func (t *txn) load(refs ...store.Ref) error {
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
	return parallel(len(todo), func(i int) error {
		return t.b.read(t.ctx, todo[i])
	})
}

// read fills x from its node.
func (b *Backend) read(ctx context.Context, x *rec) error {
	var data []byte
	var st *zk.Stat
	err := b.retry(ctx, func() error {
		var err error
		data, st, err = b.conn.Get(x.path)
		return err
	})
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

// position returns a new queue position at the back of app's queue.
func (t *txn) position(app string) (uint64, error) {
	if len(t.blocks[app]) == 0 {
		if err := t.b.ensureApp(t.ctx, app); err != nil {
			return 0, err
		}
		var st *zk.Stat
		path := t.b.p.seq(app)
		err := t.b.retry(t.ctx, func() error {
			var err error
			st, err = t.b.conn.Set(path, nil, -1)
			return err
		})
		if err != nil {
			return 0, t.b.wrap(path, err)
		}
		base := uint64(st.Version) << posBlockBits
		block := make([]uint64, 1<<posBlockBits)
		for i := range block {
			block[i] = base + uint64(i)
		}
		t.blocks[app] = block
	}
	pos := t.blocks[app][0]
	t.blocks[app] = t.blocks[app][1:]
	return pos, nil
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
	b := t.b
	var ops []any
	var creates []string // parents that must exist
	var first *rec       // a job written, to recognize our own commit
	for _, x := range t.order {
		switch {
		case !x.changed && x.exists:
			ops = append(ops, &zk.CheckVersionRequest{Path: x.path, Version: x.version})
		case !x.changed:
			// Prove the job still absent: create and delete it.
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
				return err
			}
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
					creates = append(creates, p[:len(p)-len(lastName(p))-1])
				}
			}
		}
	}
	if first == nil {
		return nil // nothing written: the reads are the answer
	}
	for app := range t.notify {
		ops = append(ops, &zk.SetDataRequest{Path: b.p.notify(app), Version: -1})
	}
	for app := range t.recsApps() {
		if err := b.ensureApp(t.ctx, app); err != nil {
			return err
		}
	}
	if size := multiSize(ops); size > maxMulti {
		return fmt.Errorf("zookeeper %s: transaction of %d operations is %d bytes, over ZooKeeper's limit of about %d", b.hosts, len(ops), size, maxMulti)
	}
	for _, p := range creates {
		if err := b.ensure(t.ctx, p); err != nil {
			return err
		}
	}
	_, err := b.conn.Multi(ops...)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, zk.ErrNoNode):
		b.forget() // a queue node we knew may have been removed
		return errConflict
	case errors.Is(err, zk.ErrBadVersion), errors.Is(err, zk.ErrNodeExists), errors.Is(err, zk.ErrNotEmpty):
		return errConflict
	case transient(err):
		// The multi may or may not have been applied: look.
		var mine bool
		rerr := b.retry(t.ctx, func() error {
			data, _, err := b.conn.Get(first.path)
			if err != nil {
				return err
			}
			var d jobData
			if json.Unmarshal(data, &d) == nil && d.Op == t.op {
				mine = true
			}
			return nil
		})
		if rerr != nil && !errors.Is(rerr, zk.ErrNoNode) {
			return b.wrap(first.path, rerr)
		}
		if mine {
			return nil
		}
		return errConflict
	default:
		return b.wrap("multi", err)
	}
}

func (t *txn) recsApps() map[string]bool {
	apps := map[string]bool{}
	for _, x := range t.order {
		apps[x.ref.App] = true
	}
	return apps
}

func lastName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// maxMulti is the largest multi-op request we send: ZooKeeper's default
// jute.maxbuffer is 1 MB, and a bigger request makes the server drop the
// connection.
const maxMulti = 1000 * 1000

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
