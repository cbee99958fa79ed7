package sched

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/backend/backendtest"
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/store"
)

// fanIn is a Sched on be (closed by its opener, lib/backend/backendtest)
// whose job "c 1" has n parents "p 1_0" .. "p 1_(n-1)".
func fanIn(tb testing.TB, be store.Backend, n int) *Sched {
	tb.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`{
		"p": {"job_id": "{d}_{i}", "autofill_values": {"i": "0:%d"}},
		"c": {"job_id": "{d}", "depends_on": {"app_name": ["p"], "i": "all"}}}`, n)), config.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return New(cfg, be)
}

var child = store.Job{Ref: store.Ref{App: "c", JobID: "1"}, State: store.Pending}

// TestBlockersBound: past MaxWhy ancestors the walk stops and counts the
// rest; absent parents with no parents of their own are what the child
// waits for.
func TestBlockersBound(t *testing.T) {
	s := fanIn(t, backendtest.Local.Open(t), MaxWhy+5)
	ctx, now := context.Background(), time.Now()
	b, err := s.Blockers(ctx, child, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Blocked) != 0 || len(b.Waiting) != MaxWhy || b.NotExamined != 5 {
		t.Fatalf("blocked %d, waiting %d, not examined %d; want 0, %d, 5", len(b.Blocked), len(b.Waiting), b.NotExamined, MaxWhy)
	}
	if got, want := b.String(now), fmt.Sprintf("waiting for parent p 1_0 (absent), and %d more (5 more not examined)", MaxWhy-1); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// A failed parent is named before those waited for.
	p7 := store.Ref{App: "p", JobID: "1_7"}
	if _, err := s.Submit(ctx, []store.SubmitItem{{Node: store.Node{Ref: p7}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetState(ctx, p7, store.Failed, "exit 1"); err != nil {
		t.Fatal(err)
	}
	if b, err = s.Blockers(ctx, child, now); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(now), "blocked: parent p 1_7 failed (last: exit 1) (5 more not examined)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestBlockersFanIn: below a fan-in of more parents than MaxWhy whose
// record has seen all but two completed, the walk reads those two only
// (store.Unseen), and finds the failed one wherever it is.
func TestBlockersFanIn(t *testing.T) {
	const n = 2000 // more than MaxWhy; the two not completed are past it
	s := fanIn(t, backendtest.Local.Open(t), n)
	ctx := context.Background()
	items := make([]store.SubmitItem, n)
	for i := range items {
		items[i] = store.SubmitItem{Node: store.Node{Ref: store.Ref{App: "p", JobID: fmt.Sprintf("1_%d", i)}}, Priority: 100}
	}
	for i := 0; i < n; i += store.Batch {
		if _, err := s.Submit(ctx, items[i:min(i+store.Batch, n)]); err != nil {
			t.Fatal(err)
		}
	}
	for i, it := range items {
		if i == 1234 || i == 1500 {
			continue
		}
		if err := s.Complete(ctx, store.Lease{Ref: it.Ref}, "exit 0"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetState(ctx, items[1500].Ref, store.Failed, "exit 1"); err != nil {
		t.Fatal(err)
	}
	var gets []int
	s.b = countGets{s.b, &gets}
	now := time.Now()
	b, err := s.Blockers(ctx, child, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(now), "blocked: parent p 1_1500 failed (last: exit 1)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(b.Waiting) != 1 || b.Waiting[0][1].JobID != "1_1234" || b.NotExamined != 0 || !slices.Equal(gets, []int{2}) {
		t.Errorf("waiting %v, not examined %d, gets of %v jobs; want p 1_1234, 0, [2]", b.Waiting, b.NotExamined, gets)
	}
}

// cpuTime is the CPU time (user and system) of the process so far: a
// figure that other processes on a loaded machine disturb less than wall
// time (for Redis and ZooKeeper it leaves out the server's).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countGets is a backend that notes how many jobs each Get reads.
type countGets struct {
	store.Backend
	n *[]int
}

func (c countGets) Get(ctx context.Context, refs []store.Ref) ([]store.Job, error) {
	*c.n = append(*c.n, len(refs))
	return c.Backend.Get(ctx, refs)
}

func (c countGets) Unseen(ctx context.Context, child store.Ref, parents []store.Ref) ([]store.Ref, bool, error) {
	return store.Unseen(ctx, c.Backend, child, parents)
}

// BenchmarkWhy is stolos-state's explanation of a pending job below a
// fan-in of n queued parents (every parent read, every one a blocker: the
// worst case), on each backend. DESIGN.md: within 100 ms at 10,000.
func BenchmarkWhy(b *testing.B) {
	for _, be := range backendtest.All {
		for _, n := range []int{100, 10000} {
			b.Run(fmt.Sprintf("%s/parents=%d", be.Name, n), func(b *testing.B) {
				s := fanIn(b, be.Open(b), n)
				ctx := context.Background()
				items := make([]store.SubmitItem, n)
				for i := range items {
					items[i] = store.SubmitItem{Node: store.Node{Ref: store.Ref{App: "p", JobID: fmt.Sprintf("1_%d", i)}}, Priority: 100}
				}
				for i := 0; i < n; i += 1000 {
					if _, err := s.Submit(ctx, items[i:min(i+1000, n)]); err != nil {
						b.Fatal(err)
					}
				}
				want := fmt.Sprintf("waiting for parent p 1_0 (pending), and %d more", n-1)
				if n > MaxWhy {
					want = fmt.Sprintf("waiting for parent p 1_0 (pending), and %d more (%d more not examined)", MaxWhy-1, n-MaxWhy)
				}
				b.ResetTimer()
				cpu := cpuTime()
				defer func() {
					b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
				}()
				for range b.N {
					got, _, err := s.Why(ctx, child, time.Now())
					if err != nil {
						b.Fatal(err)
					}
					if got != want {
						b.Fatalf("got %q, want %q", got, want)
					}
				}
			})
		}
	}
}
