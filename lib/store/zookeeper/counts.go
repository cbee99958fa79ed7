package zookeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/stolos-sched/stolos/lib/store"
)

// An app's counts (Count) are kept as jobs change, so that counting reads
// a fixed number of nodes whatever the number of jobs:
//
//	/apps/<app>/counts                 the app's counts are kept (created with its job buckets)
//	/apps/<app>/counts/<nn>            a shard: its data (shardCounts) is what the commits
//	                                   that wrote it added to the counts
//	/apps/<app>/leases/<bb>/<end>_<id> one node per job with a lease (live or ended):
//	                                   <end> is when it ends, in Unix milliseconds
//
// Every commit that changes jobs of an app adds its changes to one shard,
// in the same multi-op, with a version check on it; the counts are the sum
// of the shards. A backend writes the shard it picked at random among
// countShards (and another one at random after losing a race on it), and
// keeps its data and version from its last write, so that in the usual
// case (no other process writing the same shard) a commit reads nothing
// more and two workers do not conflict on one hot node. Lease nodes, in
// leaseBuckets buckets by the job's hash, are created and deleted with the
// job's lease in the same multi-op; Count lists them and counts those not
// ended, so it costs about as many names as there are leases.
//
// An app created by an older stolos has no counts node: its counts are
// not kept, and Count reads every job (as it used to).
const (
	countShards  = 64
	leaseBuckets = 64
)

func (p paths) counts(app string) string { return p.app(app) + "/counts" }
func (p paths) shard(app string, i int) string {
	return fmt.Sprintf("%s/%02x", p.counts(app), i)
}
func (p paths) leases(app string) string { return p.app(app) + "/leases" }

// lease is the path of the lease node of job r with a lease ending at end.
func (p paths) lease(r store.Ref, end int64) string {
	return fmt.Sprintf("%s/%02x/%d_%s", p.leases(r.App), jobBucket(r.JobID)%leaseBuckets, end, escapeName(r.JobID))
}

// shardCounts are the counts one shard holds (or a commit's changes).
type shardCounts struct {
	Pending   int64 `json:"p,omitempty"`
	Completed int64 `json:"c,omitempty"`
	Failed    int64 `json:"f,omitempty"`
	Skipped   int64 `json:"s,omitempty"`
	Queued    int64 `json:"q,omitempty"`
}

// add adds sign (1 or -1) times a job's share.
func (c *shardCounts) add(d jobData, sign int64) {
	switch d.State {
	case store.Pending:
		c.Pending += sign
	case store.Completed:
		c.Completed += sign
	case store.Failed:
		c.Failed += sign
	case store.Skipped:
		c.Skipped += sign
	}
	if d.Q != "" {
		c.Queued += sign
	}
}

func (c *shardCounts) plus(o shardCounts) {
	c.Pending += o.Pending
	c.Completed += o.Completed
	c.Failed += o.Failed
	c.Skipped += o.Skipped
	c.Queued += o.Queued
}

// shard is a backend's shard of one app's counts as it last wrote it.
type shard struct {
	i       int
	data    shardCounts
	version int32 // -1: not read yet; with exists false: absent
	exists  bool
}

// countedApp reports whether app's counts are kept (learned by ensureApp).
func (b *Backend) countedApp(app string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counted[app]
}

// learnCounted notes whether app's counts are kept: whether it has its
// counts node.
func (b *Backend) learnCounted(ctx context.Context, app string) error {
	path := b.p.counts(app)
	var ok bool
	err := b.retry(ctx, func() error {
		var err error
		ok, _, err = b.conn.Exists(path)
		return err
	})
	if err != nil {
		return b.wrap(path, err)
	}
	b.mu.Lock()
	b.counted[app] = ok
	b.mu.Unlock()
	return nil
}

// shardOf returns this backend's shard of app's counts, read if needed.
func (b *Backend) shardOf(ctx context.Context, app string) (shard, error) {
	b.mu.Lock()
	s, ok := b.shards[app]
	if !ok {
		s = shard{i: rand.IntN(countShards), version: -1}
		b.shards[app] = s
	}
	b.mu.Unlock()
	if s.version >= 0 || s.exists {
		return s, nil
	}
	path := b.p.shard(app, s.i)
	data, st, err := b.getData(ctx, path)
	switch {
	case errors.Is(err, zk.ErrNoNode):
		s.version, s.exists, s.data = 0, false, shardCounts{}
	case err != nil:
		return s, b.wrap(path, err)
	default:
		s.data = shardCounts{}
		if err := json.Unmarshal(data, &s.data); err != nil {
			return s, fmt.Errorf("zookeeper %s: %s: bad counts: %v", b.hosts, path, err)
		}
		s.version, s.exists = st.Version, true
	}
	b.mu.Lock()
	b.shards[app] = s
	b.mu.Unlock()
	return s, nil
}

// countOp is a commit's write of one app's shard.
type countOp struct {
	app string
	s   shard // as it will be once the commit is done
	op  int   // its index in the multi
}

// countOps appends to ops what keeps the counts of the jobs t changed:
// their lease nodes, and one write of this backend's shard per app whose
// counts change. It returns the parents the new lease nodes need.
func (t *txn) countOps(ops []any) ([]any, []string, error) {
	b := t.b
	var dirs []string
	var apps []string
	deltas := map[string]*shardCounts{}
	for _, x := range t.order {
		if !x.changed || !b.countedApp(x.ref.App) {
			continue
		}
		d := deltas[x.ref.App]
		if d == nil {
			d = &shardCounts{}
			deltas[x.ref.App] = d
			apps = append(apps, x.ref.App)
		}
		var was string
		if x.exists {
			d.add(x.orig, -1)
			if x.orig.Token != "" {
				was = b.p.lease(x.ref, x.orig.Until)
			}
		}
		d.add(x.cur, 1)
		var now string
		if x.cur.Token != "" {
			now = b.p.lease(x.ref, x.cur.Until)
		}
		if was != now {
			if was != "" {
				ops = append(ops, &zk.DeleteRequest{Path: was, Version: -1})
			}
			if now != "" {
				ops = append(ops, &zk.CreateRequest{Path: now, Acl: b.acl})
				dirs = append(dirs, path.Dir(now))
			}
		}
	}
	t.counts = t.counts[:0]
	for _, app := range apps {
		d := deltas[app]
		if *d == (shardCounts{}) {
			continue
		}
		s, err := b.shardOf(t.ctx, app)
		if err != nil {
			return nil, nil, err
		}
		s.data.plus(*d)
		data, err := json.Marshal(s.data)
		if err != nil {
			return nil, nil, err
		}
		t.counts = append(t.counts, countOp{app: app, s: s, op: len(ops)})
		path := b.p.shard(app, s.i)
		if s.exists {
			ops = append(ops, &zk.SetDataRequest{Path: path, Data: data, Version: s.version})
		} else {
			ops = append(ops, &zk.CreateRequest{Path: path, Data: data, Acl: b.acl})
		}
	}
	return ops, dirs, nil
}

// countsCommitted keeps the shards as the commit wrote them (res: its
// answers), or, with no answers (the reply was lost), forgets them.
func (t *txn) countsCommitted(res []zk.MultiResponse) {
	b := t.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range t.counts {
		s := c.s
		switch {
		case c.op >= len(res):
			s.version, s.exists = -1, false
		case !s.exists:
			s.version, s.exists = 0, true
		case res[c.op].Stat != nil:
			s.version = res[c.op].Stat.Version
		default:
			s.version, s.exists = -1, false
		}
		b.shards[c.app] = s
	}
}

// countsFailed handles a commit that failed: a shard whose write failed
// (another process wrote it, or created it, first) is read again, and
// another one is taken at random, so that two processes that met on a
// shard part.
func (t *txn) countsFailed(res []zk.MultiResponse) {
	failed := -1
	for i, r := range res {
		if r.Error != nil {
			failed = i
			break
		}
	}
	b := t.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range t.counts {
		if c.op == failed || failed < 0 {
			b.shards[c.app] = shard{i: rand.IntN(countShards), version: -1}
		}
	}
}

// Count counts an app's jobs (countJobs), and reads how long the head of
// its queue has waited (headAge).
func (b *Backend) Count(ctx context.Context, app string) (store.Counts, error) {
	now := b.clock()
	c, err := b.countJobs(ctx, app, now)
	if err != nil || c.Queued == 0 {
		return c, err
	}
	c.HeadAge, err = b.headAge(ctx, app, now)
	if err != nil {
		return store.Counts{}, err
	}
	return c, nil
}

// headAge is how long the first claimable entry of app's queue has been
// there: since its node was made (the job was queued, or claimed under a
// lease that has run out since), by its ctime. Finding it is the walk of a
// claim (head): the priorities and the first chunk of entries.
func (b *Backend) headAge(ctx context.Context, app string, now time.Time) (time.Duration, error) {
	cands, _, err := b.head(ctx, app, now.UnixMilli(), 1)
	if err != nil || len(cands) == 0 {
		return 0, err
	}
	entry := b.p.queue(app) + "/" + cands[0].q
	var ok bool
	var st *zk.Stat
	err = b.retry(ctx, func() error {
		var err error
		ok, st, err = b.conn.Exists(entry)
		return err
	})
	if err != nil {
		return 0, b.wrap(entry, err)
	}
	if !ok { // claimed since
		return 0, nil
	}
	return max(now.Sub(time.UnixMilli(st.Ctime)), 0), nil
}

// countJobs counts an app's jobs: the sum of its shards, and its lease
// nodes that have not ended. For an app whose counts are not kept (made by
// an older stolos), it reads every job.
func (b *Backend) countJobs(ctx context.Context, app string, now time.Time) (store.Counts, error) {
	shards, err := b.childrenIf(ctx, b.p.counts(app))
	if err != nil {
		return store.Counts{}, err
	}
	if shards == nil {
		return b.countList(ctx, app, now)
	}
	buckets, err := b.children(ctx, b.p.leases(app))
	if err != nil {
		return store.Counts{}, err
	}
	sums := make([]shardCounts, len(shards))
	claimed := make([]int, len(buckets))
	err = parallel(len(shards)+len(buckets), func(i int) error {
		if i >= len(shards) {
			i -= len(shards)
			names, err := b.children(ctx, b.p.leases(app)+"/"+buckets[i])
			for _, n := range names {
				end, _, _ := strings.Cut(n, "_")
				if ms, err := strconv.ParseInt(end, 10, 64); err == nil && ms > now.UnixMilli() {
					claimed[i]++
				}
			}
			return err
		}
		path := b.p.counts(app) + "/" + shards[i]
		data, _, err := b.getData(ctx, path)
		if err != nil {
			return b.wrap(path, err)
		}
		if err := json.Unmarshal(data, &sums[i]); err != nil {
			return fmt.Errorf("zookeeper %s: %s: bad counts: %v", b.hosts, path, err)
		}
		return nil
	})
	if err != nil {
		return store.Counts{}, err
	}
	var sum shardCounts
	for _, s := range sums {
		sum.plus(s)
	}
	c := store.Counts{States: map[store.State]int{}, Queued: int(sum.Queued)}
	for st, n := range map[store.State]int64{store.Pending: sum.Pending, store.Completed: sum.Completed,
		store.Failed: sum.Failed, store.Skipped: sum.Skipped} {
		if n != 0 {
			c.States[st] = int(n)
		}
	}
	for _, n := range claimed {
		c.Claimed += n
	}
	return c, nil
}
