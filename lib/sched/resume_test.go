package sched_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
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

// TestDescendantsOrder: descendants come parents before children, also
// when a job is both a child and a grandchild of the root, listed first.
func TestDescendantsOrder(t *testing.T) {
	s, _ := open(t, `{
  "root": {"job_id": "{k}", "autofill_values": {"k": ["1"]}},
  "b": {"job_id": "{k}", "depends_on": {"app_name": ["a", "root"]}},
  "a": {"job_id": "{k}", "depends_on": {"app_name": ["root"]}},
  "c": {"job_id": "{k}", "depends_on": {"app_name": ["b"]}}
}`)
	j, err := s.Resolve(store.Ref{App: "root", JobID: "1"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range s.Descendants(j) {
		got = append(got, r.String())
	}
	if want := []string{"a 1", "b 1", "c 1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("descendants: %q, want %q", got, want)
	}
}

// TestReaddFinishedByCompletion: a readd in steps whose process died is
// finished by the completion of the readded job's new run (which the
// backend refuses while the readd is unfinished), and by a later claim.
func TestReaddFinishedByCompletion(t *testing.T) {
	ctx := context.Background()
	s, b := open(t, fanOut)
	root := store.Ref{App: "root", JobID: "1"}
	j, err := s.Resolve(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Submit(ctx, []store.SubmitItem{{Node: store.Node{Ref: root}, Priority: 100}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, store.Lease{Ref: root}, "exit 0"); err != nil {
		t.Fatal(err)
	}
	killed := errors.New("killed")
	readd := func() {
		t.Helper()
		hook := store.WithStepHook(ctx, func(_ store.Ref, done int) error {
			if done > 0 {
				return killed
			}
			return nil
		})
		item := store.SubmitItem{Node: store.Node{Ref: root}, Priority: 100, Readd: true, Reset: s.Descendants(j)}
		if _, err := b.Submit(hook, []store.SubmitItem{item}); !errors.Is(err, killed) {
			t.Fatalf("readd: %v, want killed", err)
		}
	}
	counts := func(want store.Counts) {
		t.Helper()
		c, err := b.Count(ctx, "c")
		c.HeadAge = 0 // not what this test is about
		if err != nil || !reflect.DeepEqual(c, want) {
			t.Fatalf("children: %+v %v, want %+v", c, err, want)
		}
	}

	// The completion of the readded job finishes the readd first.
	readd()
	var l store.Lease
	if _, err := s.Claim(ctx, store.ClaimRequest{App: "root", Owner: "w", N: 1, Lease: time.Hour}, 0,
		func(got store.Lease) error { l = got; return nil }, nil); err != nil || l.Ref != root {
		t.Fatalf("claim root: %v %v", l, err)
	}
	if err := s.Complete(ctx, l, "exit 0"); err != nil {
		t.Fatalf("complete during an unfinished readd: %v", err)
	}
	counts(store.Counts{States: map[store.State]int{store.Pending: 2500}, Queued: 2500})
	if ms, err := b.Unfinished(ctx, 0, 10); err != nil || len(ms) != 0 {
		t.Fatalf("unfinished: %v %v, want none", ms, err)
	}

	// A claim of any app finishes it once idle for a lease.
	readd()
	const lease = time.Millisecond
	time.Sleep(2 * lease) // the marker is idle for a lease
	if _, err := s.Claim(ctx, store.ClaimRequest{App: "root", Owner: "w", N: 1, Lease: lease}, 0,
		func(store.Lease) error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	counts(store.Counts{States: map[store.State]int{store.Pending: 2500}})
	if ms, err := b.Unfinished(ctx, 0, 10); err != nil || len(ms) != 0 {
		t.Fatalf("unfinished: %v %v, want none", ms, err)
	}
}
