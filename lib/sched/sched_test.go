package sched

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/local"
)

// chain makes a config of n apps a0..a(n-1), each job "{x}" of a(i) the
// child of the same job of a(i-1), plus extra apps, and a Sched on a new
// SQLite file.
func chain(t *testing.T, n int, extra string) *Sched {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"a0": {"job_id": "{x}", "bash_cmd": "true"}`)
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, `, "a%d": {"job_id": "{x}", "bash_cmd": "true", "depends_on": {"app_name": ["a%d"]}}`, i, i-1)
	}
	b.WriteString(extra + "}")
	cfg, err := config.Parse([]byte(b.String()), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	be, err := local.Open(context.Background(), filepath.Join(t.TempDir(), "stolos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return New(cfg, be)
}

// claimAll claims what it can of app: the jobs handed out, and the reports
// of those parked.
func claimAll(t *testing.T, s *Sched, app string) (got []store.Lease, parked []string) {
	t.Helper()
	_, err := s.Claim(context.Background(), store.ClaimRequest{App: app, Owner: "w", N: 100, Lease: time.Minute}, 0,
		func(l store.Lease) error { got = append(got, l); return nil },
		func(p Parked) { parked = append(parked, p.String()) })
	if err != nil {
		t.Fatalf("claim %s: %v", app, err)
	}
	return got, parked
}

func states(t *testing.T, s *Sched, refs ...store.Ref) []string {
	t.Helper()
	jobs, err := s.b.Get(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range jobs {
		st := string(j.State)
		if j.State == store.Absent {
			st = "absent"
		}
		if j.Queued {
			st += "+queued"
		}
		out = append(out, j.App+" "+st)
	}
	return out
}

func submit(t *testing.T, s *Sched, refs ...store.Ref) {
	t.Helper()
	var items []store.SubmitItem
	for _, r := range refs {
		items = append(items, store.SubmitItem{Node: store.Node{Ref: r}, Priority: store.DefaultPriority})
	}
	if _, err := s.b.Submit(context.Background(), items); err != nil {
		t.Fatal(err)
	}
}

// TestBubbleUpOneStep: a job asked for before its ancestors exist queues
// the furthest missing ones at once, and leaves those between absent, so
// that one pass over the apps in order runs the whole chain.
func TestBubbleUpOneStep(t *testing.T) {
	const n = 6
	// b1 needs a2 and c0; c0 is queued already, so that path stops there.
	s := chain(t, n, `, "c0": {"job_id": "{x}", "bash_cmd": "true"},
		"b1": {"job_id": "{x}", "bash_cmd": "true", "depends_on": {"app_name": ["a2", "c0"]}}`)
	ref := func(app string) store.Ref { return store.Ref{App: app, JobID: "1"} }
	submit(t, s, ref("c0"), ref("a5"), ref("b1"))
	if got, parked := claimAll(t, s, "a5"); len(got) != 0 || !reflect.DeepEqual(parked, []string{"a5 1: not runnable yet, waiting for parent a4 1 (absent)"}) {
		t.Fatalf("claim a5: %v %q", got, parked)
	}
	if got, parked := claimAll(t, s, "b1"); len(got) != 0 || !reflect.DeepEqual(parked, []string{"b1 1: not runnable yet, waiting for parent a2 1 (absent)"}) {
		t.Fatalf("claim b1: %v %q", got, parked)
	}
	want := []string{"a0 pending+queued", "a1 absent", "a2 absent", "a3 absent", "a4 absent", "a5 pending", "c0 pending+queued", "b1 pending"}
	if got := states(t, s, ref("a0"), ref("a1"), ref("a2"), ref("a3"), ref("a4"), ref("a5"), ref("c0"), ref("b1")); !reflect.DeepEqual(got, want) {
		t.Fatalf("after parking:\n%q, want\n%q", got, want)
	}
	// One pass in order runs everything.
	for _, app := range []string{"a0", "a1", "a2", "c0", "b1", "a3", "a4", "a5"} {
		got, parked := claimAll(t, s, app)
		if len(got) != 1 || len(parked) != 0 {
			t.Fatalf("claim %s: %v %q, want one job", app, got, parked)
		}
		if err := s.Complete(context.Background(), got[0], "exit 0"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBubbleUpBounded: the walk up reads at most MaxAbove ancestors; the
// ancestor where it stopped is queued, and bubbles up further when it is
// claimed.
func TestBubbleUpBounded(t *testing.T) {
	const n = MaxAbove + 4
	s := chain(t, n, "")
	ref := func(i int) store.Ref { return store.Ref{App: fmt.Sprint("a", i), JobID: "1"} }
	submit(t, s, ref(n-1))
	claimAll(t, s, ref(n-1).App)
	stop := n - 2 - MaxAbove // the parent's parents are read, MaxAbove of them
	if got, want := states(t, s, ref(stop-1), ref(stop), ref(stop+1)), []string{
		ref(stop-1).App + " absent", ref(stop).App + " pending+queued", ref(stop+1).App + " absent",
	}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after parking the leaf: %q, want %q", got, want)
	}
	claimAll(t, s, ref(stop).App)
	if got, want := states(t, s, ref(0), ref(1)), []string{"a0 pending+queued", "a1 absent"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after parking a%d: %q, want %q", stop, got, want)
	}
}

// TestBubbleUpInvalid: an absent ancestor that its app's valid_if_or
// rejects is created skipped, and nothing above it is queued: the job is
// blocked at once.
func TestBubbleUpInvalid(t *testing.T) {
	s := chain(t, 2, `, "v": {"job_id": "{x}", "bash_cmd": "true", "depends_on": {"app_name": ["a1"]},
		"valid_if_or": {"x": ["2"]}}, "w": {"job_id": "{x}", "bash_cmd": "true", "depends_on": {"app_name": ["v"]}}`)
	ref := func(app string) store.Ref { return store.Ref{App: app, JobID: "1"} }
	submit(t, s, ref("w"))
	if got, parked := claimAll(t, s, "w"); len(got) != 0 || !reflect.DeepEqual(parked, []string{"w 1: not runnable yet, waiting for parent v 1 (absent)"}) {
		t.Fatalf("claim w: %v %q", got, parked)
	}
	want := []string{"a0 absent", "a1 absent", "v skipped", "w pending"}
	if got := states(t, s, ref("a0"), ref("a1"), ref("v"), ref("w")); !reflect.DeepEqual(got, want) {
		t.Fatalf("after parking: %q, want %q", got, want)
	}
}
