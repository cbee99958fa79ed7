package sched_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/local"
)

// A root job with 2,500 children.
const fanOut = `{
  "root": {"job_id": "{k}", "autofill_values": {"k": ["1"]}},
  "c": {"job_id": "{k}_{n}", "autofill_values": {"k": ["1"], "n": "0:2500"},
        "depends_on": {"app_name": ["root"]}}
}`

func open(t *testing.T, tasks string) (*sched.Sched, store.Backend) {
	t.Helper()
	cfg, err := config.Parse([]byte(tasks), config.Options{Delimiter: "_"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := local.Open(context.Background(), filepath.Join(t.TempDir(), "stolos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s := sched.New(cfg, b)
	s.Warnf = func(f string, args ...any) { t.Errorf("warning: "+f, args...) }
	return s, b
}

// TestClaimResumes: a worker killed between two steps of a bubble-down
// leaves the rest to the next claim, made once the marker has been idle
// for a lease.
func TestClaimResumes(t *testing.T) {
	ctx := context.Background()
	s, b := open(t, fanOut)
	root := store.Ref{App: "root", JobID: "1"}
	if _, err := b.Submit(ctx, []store.SubmitItem{{Node: store.Node{Ref: root}, Priority: 100}}); err != nil {
		t.Fatal(err)
	}
	j, err := s.Resolve(root)
	if err != nil {
		t.Fatal(err)
	}
	kids, err := s.BubbleDown(ctx, j)
	if err != nil || len(kids) != 2500 {
		t.Fatalf("bubble-down of %v: %d children, %v; want 2500", root, len(kids), err)
	}
	killed := errors.New("killed")
	hook := store.WithStepHook(ctx, func(store.Ref, int) error { return killed })
	if err := b.Complete(hook, store.Lease{Ref: root}, "exit 0", kids); !errors.Is(err, killed) {
		t.Fatalf("complete: %v, want killed", err)
	}
	const lease = time.Millisecond
	time.Sleep(2 * lease) // the marker is idle for a lease
	var got []store.Lease
	n, err := s.Claim(ctx, store.ClaimRequest{App: "c", Owner: "w", N: 1, Lease: lease}, 0,
		func(l store.Lease) error { got = append(got, l); return nil }, nil)
	if err != nil || n != 1 || got[0].JobID != "1_0" {
		t.Fatalf("claim: %d %v %v, want 1_0", n, got, err)
	}
	c, err := b.Count(ctx, "c")
	if err != nil || c.States[store.Pending] != 2500 || c.Queued != 2500 {
		t.Fatalf("children: %+v %v, want 2500 pending and queued", c, err)
	}
	if refs, err := b.Unfinished(ctx, 0, 10); err != nil || len(refs) != 0 {
		t.Fatalf("unfinished: %v %v, want none", refs, err)
	}
}
