package zookeeper

import (
	"reflect"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/stolos-sched/stolos/lib/store"
)

// TestCountsKept: a new app's counts are kept in its shards and its
// leases as nodes, and Count reads those; an app without a counts node (as
// an older stolos made them) is counted by reading its jobs.
func TestCountsKept(t *testing.T) {
	b, _ := open(t)
	ctx := ctxT(t)
	var items []store.SubmitItem
	for _, id := range []string{"1", "2", "3"} {
		items = append(items, store.SubmitItem{Node: store.Node{Ref: store.Ref{App: "a", JobID: id}}, Priority: 100})
	}
	if _, err := b.Submit(ctx, items); err != nil {
		t.Fatal(err)
	}
	r, err := b.Claim(ctx, store.ClaimRequest{App: "a", Owner: "w", N: 2, Lease: time.Minute})
	if err != nil || len(r.Leases) != 2 {
		t.Fatalf("claim: %v %v", r, err)
	}
	if err := b.Complete(ctx, r.Leases[0], "exit 0", nil); err != nil {
		t.Fatal(err)
	}
	want := store.Counts{States: map[store.State]int{store.Pending: 2, store.Completed: 1}, Queued: 2, Claimed: 1}
	c, err := b.Count(ctx, "a")
	c.HeadAge = 0 // TestConformance/CountHeadAge checks it
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Fatalf("count: %+v %v, want %+v", c, err, want)
	}
	shards, _, err := b.conn.Children(b.p.counts("a"))
	if err != nil || len(shards) != 1 {
		t.Fatalf("shards: %v %v, want one (one backend wrote them)", shards, err)
	}
	l := r.Leases[1]
	lease := b.p.lease(l.Ref, l.Until.UnixMilli())
	if ok, _, err := b.conn.Exists(lease); err != nil || !ok {
		t.Fatalf("lease node %s: %v %v", lease, ok, err)
	}

	// Without the counts node, the jobs are read.
	for _, p := range []string{b.p.counts("a") + "/" + shards[0], b.p.counts("a")} {
		if err := b.conn.Delete(p, -1); err != nil {
			t.Fatalf("delete %s: %v", p, err)
		}
	}
	c, err = b.Count(ctx, "a")
	c.HeadAge = 0
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Fatalf("count from the jobs: %+v %v, want %+v", c, err, want)
	}
	// A process that finds the app without it keeps no counts.
	b2, err := openSpec(b.hosts)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if err := b2.Complete(ctx, l, "exit 0", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.conn.Get(b.p.counts("a")); err != zk.ErrNoNode {
		t.Fatalf("counts node after a write by a new process: %v, want none", err)
	}
	want = store.Counts{States: map[store.State]int{store.Pending: 1, store.Completed: 2}, Queued: 1}
	c, err = b2.Count(ctx, "a")
	c.HeadAge = 0
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Fatalf("count from the jobs: %+v %v, want %+v", c, err, want)
	}
}
