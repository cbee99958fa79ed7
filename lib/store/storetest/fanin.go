package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// The fan-in records and bounded bubble-down steps of Backend.Complete
// (DESIGN.md section 6).

// counted is a child whose Parents counts its calls.
func counted(c store.Ref, calls *int, parents []store.Ref) store.Child {
	return store.Child{Node: store.Node{Ref: c}, Parents: func() []store.Ref {
		*calls++
		return parents
	}}
}

// submitMany submits jobs of an app in batches.
func submitMany(t *testing.T, b store.Backend, refs []store.Ref) {
	t.Helper()
	for len(refs) > 0 {
		n := min(len(refs), 1000)
		items := make([]store.SubmitItem, n)
		for i, r := range refs[:n] {
			items[i] = item(r.App, r.JobID, 100)
		}
		submit(t, b, items...)
		refs = refs[n:]
	}
}

// refsOf names jobs "0".."n-1" of an app, zero-padded.
func refsOf(app string, n int) []store.Ref {
	out := make([]store.Ref, n)
	for i := range out {
		out[i] = ref(app, fmt.Sprintf("%06d", i))
	}
	return out
}

// childrenOf is jobs "0".."n-1" of an app (refsOf), each a child of p.
func childrenOf(p store.Ref, app string, n int) []store.Child {
	kids := make([]store.Child, n)
	for i, r := range refsOf(app, n) {
		kids[i] = child(r, p)
	}
	return kids
}

var completedView = view{State: store.Completed, Outcome: "exit 0"}

// testFanInOnce: a child with many parents is created and queued by the
// completion of its last parent, once, whatever the order and repetition
// of the completions; later completions of its parents do not queue it
// again.
func (s suite) testFanInOnce(t *testing.T) {
	b, _ := s.open(t)
	const n = 40
	parents := refsOf("p", n)
	submitMany(t, b, parents)
	c := child(ref("c", "1"), parents...)
	rng := rand.New(rand.NewSource(1))
	order := rng.Perm(n)
	for i, k := range order {
		completeRef(t, b, parents[k], c)
		if i%3 == 0 { // a re-run of one completed before
			completeRef(t, b, parents[order[rng.Intn(i+1)]], c)
		}
		if i < n-1 {
			checkJob(t, b, c.Ref, view{})
		}
	}
	checkJob(t, b, c.Ref, pendingQueued(100))
	complete(t, b, claimOne(t, b, "c", longLease))
	for _, p := range parents[:5] {
		completeRef(t, b, p, c)
	}
	checkJob(t, b, c.Ref, completedView)
}

// testFanInReset: a parent reset by -readd, or set away from completed,
// counts as missing again: the child waits for its completion.
func (s suite) testFanInReset(t *testing.T) {
	b, _ := s.open(t)
	p1, p2, p3, q := ref("p", "1"), ref("p", "2"), ref("p", "3"), ref("p", "q")
	submit(t, b, item("p", "1", 100), item("p", "2", 100), item("p", "3", 100), item("p", "q", 100))
	c := child(ref("c", "1"), p1, p2, p3)
	for _, p := range []store.Ref{p1, p2, p3} {
		completeRef(t, b, p, c)
	}
	complete(t, b, claimOne(t, b, "c", longLease))
	submit(t, b, store.SubmitItem{Node: node("p", "2"), Priority: 100, Readd: true, Reset: []store.Ref{c.Ref}})
	checkJob(t, b, c.Ref, view{State: store.Pending, Outcome: "exit 0"})
	completeRef(t, b, p1, c) // a re-run of another parent
	checkJob(t, b, c.Ref, view{State: store.Pending, Outcome: "exit 0"})
	complete(t, b, acquire(t, b, p2, "w", longLease), c)
	checkJob(t, b, c.Ref, view{State: store.Pending, Queued: true, Priority: 100, Outcome: "exit 0"})

	// p1 leaves completed while c2 waits for q.
	c2 := child(ref("c", "2"), p1, p2, q)
	completeRef(t, b, p1, c2)
	setState(t, b, p1, store.Pending, "")
	completeRef(t, b, q, c2)
	checkJob(t, b, c2.Ref, view{})
	completeRef(t, b, p1, c2)
	checkJob(t, b, c2.Ref, pendingQueued(100))
}

// testFanInWide: a child of 10,000 parents is queued by the last one, and
// its parents are computed at most twice over the 10,000 completions.
func (s suite) testFanInWide(t *testing.T) {
	b, _ := s.open(t)
	const n = 10000
	parents := refsOf("p", n)
	submitMany(t, b, parents)
	calls := 0
	c := counted(ref("c", "1"), &calls, parents)
	long := longCtx(t)
	for i, p := range parents {
		if i == n-1 {
			checkJob(t, b, c.Ref, view{})
		}
		if err := b.Complete(long, store.Lease{Ref: p}, "exit 0", []store.Child{c}); err != nil {
			t.Fatalf("complete %v: %v", p, err)
		}
	}
	checkJob(t, b, c.Ref, pendingQueued(100))
	if calls > 2 {
		t.Errorf("the child's parents were computed %d times, want at most 2", calls)
	}
}

// testFanOutWide: one completion queues 100,000 children, and leaves no
// marker.
func (s suite) testFanOutWide(t *testing.T) {
	b, _ := s.open(t)
	const n = 100000
	p := ref("p", "1")
	submit(t, b, item("p", "1", 7))
	kids := childrenOf(p, "c", n)
	if err := b.Complete(longCtx(t), claimOne(t, b, "p", longLease), "exit 0", kids); err != nil {
		t.Fatalf("complete with %d children: %v", n, err)
	}
	checkCounts(t, b, "c", counts{Pending: n, Queued: n})
	if got := ids(claim(t, b, "c", 2, longLease).Leases); !reflect.DeepEqual(got, []string{"000000", "000001"}) {
		t.Errorf("first children claimed: %v, want [000000 000001]", got)
	}
	if refs, err := b.Unfinished(ctx(t), 0, 10); err != nil || len(refs) != 0 {
		t.Errorf("unfinished after a finished bubble-down: %v %v, want none", refs, err)
	}
}

// testBubbleDownKilled: a worker dies between two steps of a big
// bubble-down: the completion is recorded, the marker is listed once idle,
// two workers resuming it at once queue every other child, and a child of
// the first step that ran meanwhile is not queued again.
func (s suite) testBubbleDownKilled(t *testing.T) {
	b, spec := s.open(t)
	const n = 3 * store.Batch
	p := ref("p", "1")
	submit(t, b, item("p", "1", 100))
	kids := childrenOf(p, "c", n)
	killed := errors.New("killed")
	steps := 0
	hook := store.WithStepHook(ctx(t), func(parent store.Ref, done int) error {
		steps++
		if parent != p || done < 1 || done >= n {
			t.Errorf("step hook: parent %v, done %d", parent, done)
		}
		return killed
	})
	err := b.Complete(hook, claimOne(t, b, "p", longLease), "exit 0", kids)
	if !errors.Is(err, killed) || !errors.Is(err, store.ErrUnfinished) || steps != 1 {
		t.Fatalf("complete killed after its first step: %v (%d steps), want killed and store.ErrUnfinished", err, steps)
	}
	checkJob(t, b, p, completedView)
	cnt, err := b.Count(ctx(t), "c")
	if err != nil {
		t.Fatal(err)
	}
	if first := cnt.Queued; first < 3 || first >= n {
		t.Fatalf("%d children queued by the first step, want some but not all of %d", first, n)
	}
	ran := claim(t, b, "c", 3, longLease).Leases
	for _, l := range ran {
		complete(t, b, l)
	}
	if refs, err := b.Unfinished(ctx(t), time.Hour, 10); err != nil || len(refs) != 0 {
		t.Fatalf("unfinished for an hour: %v %v, want none", refs, err)
	}
	refs, err := b.Unfinished(ctx(t), 0, 10)
	if err != nil || !reflect.DeepEqual(refs, []store.Marker{{Ref: p}}) {
		t.Fatalf("unfinished: %v %v, want [%v]", refs, err, p)
	}
	b2 := s.openSpec(t, spec)
	together(t, "resume", b, b2, func(bk store.Backend) error { return bk.Resume(ctx(t), p, kids) })
	checkCounts(t, b, "c", counts{Pending: n - 3, Completed: 3, Queued: n - 3})
	for _, l := range ran {
		checkJob(t, b, l.Ref, completedView)
	}
	if refs, err := b.Unfinished(ctx(t), 0, 10); err != nil || len(refs) != 0 {
		t.Fatalf("unfinished after resume: %v %v, want none", refs, err)
	}
	if err := b.Resume(ctx(t), p, kids); err != nil {
		t.Fatalf("resume of a finished bubble-down: %v", err)
	}
	checkCounts(t, b, "c", counts{Pending: n - 3, Completed: 3, Queued: n - 3})
}

// testResumeReset: the marker of a job that is no longer completed is
// dropped by Resume without queueing anything.
func (s suite) testResumeReset(t *testing.T) {
	b, _ := s.open(t)
	const n = 3 * store.Batch
	p := ref("p", "1")
	submit(t, b, item("p", "1", 100))
	kids := childrenOf(p, "c", n)
	killed := errors.New("killed")
	hook := store.WithStepHook(ctx(t), func(store.Ref, int) error { return killed })
	if err := b.Complete(hook, store.Lease{Ref: p}, "exit 0", kids); !errors.Is(err, killed) {
		t.Fatalf("complete killed after its first step: %v", err)
	}
	cnt, err := b.Count(ctx(t), "c")
	if err != nil {
		t.Fatal(err)
	}
	submit(t, b, store.SubmitItem{Node: node("p", "1"), Priority: 100, Readd: true})
	if err := b.Resume(ctx(t), p, kids); err != nil {
		t.Fatalf("resume: %v", err)
	}
	checkCounts(t, b, "c", counts{Pending: cnt.Queued, Queued: cnt.Queued})
	if refs, err := b.Unfinished(ctx(t), 0, 10); err != nil || len(refs) != 0 {
		t.Fatalf("unfinished after resume: %v %v, want none", refs, err)
	}
}

// recompleteItem: complete Parent without a lease (it may be completed
// already) with Children.
type recompleteItem = completeItem

func recompleterWorker(ctx context.Context, b store.Backend, owner string, raw []byte) (any, error) {
	var items []recompleteItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	for _, it := range items {
		if err := b.Complete(ctx, store.Lease{Ref: it.Parent}, "exit 0", kids(it.Children)); err != nil {
			return nil, fmt.Errorf("complete %v: %w", it.Parent, err)
		}
	}
	return len(items), nil
}

// testProcessesFanIn: four processes each complete every parent of a few
// shared children, in different orders, at once: every child is queued,
// once.
func (s suite) testProcessesFanIn(t *testing.T) {
	const nkids, parents, procs = 3, 12, 4
	b, spec := s.open(t)
	all := refsOf("p", parents)
	submitMany(t, b, all)
	var cs []kid
	for k := range nkids {
		cs = append(cs, kid{Node: node("c", strconv.Itoa(k)), Parents: all})
	}
	jobs := make([]job, procs)
	results := make([]any, procs)
	rng := rand.New(rand.NewSource(2))
	for i := range jobs {
		var work []recompleteItem
		for _, k := range rng.Perm(parents) {
			work = append(work, recompleteItem{Parent: all[k], Children: cs})
		}
		jobs[i] = job{"recompleter", work}
		results[i] = new(int)
	}
	runWorkers(t, spec, jobs, results)
	checkCounts(t, b, "c", counts{Pending: nkids, Queued: nkids})
	got := ids(claim(t, b, "c", nkids+10, longLease).Leases)
	sort.Strings(got)
	if want := []string{"0", "1", "2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("children claimed: %v, want %v", got, want)
	}
}

// testUnseen: a child's fan-in record says which of its parents it has not
// seen completed (store.FanInReader), in their order; a child with no
// record, or a backend that cannot say, answers not ok.
func (s suite) testUnseen(t *testing.T) {
	b, spec := s.open(t)
	raw, err := s.h.Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	_, reader := raw.(store.FanInReader)
	raw.Close()
	ctx := context.Background()
	p1, p2, p3 := ref("p", "1"), ref("p", "2"), ref("p", "3")
	submit(t, b, item("p", "1", 100), item("p", "2", 100), item("p", "3", 100))
	c := child(ref("c", "1"), p1, p2, p3)
	if u, ok, err := store.Unseen(ctx, b, c.Ref, c.Parents()); err != nil || ok || u != nil {
		t.Fatalf("unseen with no record: %v %v %v, want nothing, not ok", u, ok, err)
	}
	completeRef(t, b, p2, c)
	u, ok, err := store.Unseen(ctx, b, c.Ref, c.Parents())
	switch {
	case err != nil:
		t.Fatal(err)
	case ok != reader:
		t.Fatalf("unseen: ok %v, want %v (the backend is a FanInReader: %v)", ok, reader, reader)
	case ok && !reflect.DeepEqual(u, []store.Ref{p1, p3}):
		t.Fatalf("unseen: %v, want %v", u, []store.Ref{p1, p3})
	}
	if _, _, err := store.Unseen(ctx, b, store.Ref{App: "c"}, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("unseen of a bad ref: %v, want ErrInvalid", err)
	}
}
