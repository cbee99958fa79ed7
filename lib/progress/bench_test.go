package progress

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/backend/backendtest"
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// BenchmarkPoll is one report of stolos-progress -watch or -wait-all (after
// the first) on a set of n jobs: a child below a fan-in of n-1 parents,
// half of them skipped and half queued, on each backend. It reads every
// job (Gets of Chunk jobs) and classifies the set.
func BenchmarkPoll(b *testing.B) {
	for _, be := range backendtest.All {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/jobs=%d", be.Name, n), func(b *testing.B) {
				ctx := context.Background()
				cfg, err := config.Parse([]byte(fmt.Sprintf(`{
					"p": {"job_id": "{d}_{i}", "autofill_values": {"i": "0:%d"}},
					"c": {"job_id": "{d}", "depends_on": {"app_name": ["p"], "i": "all"}}}`, n-1)), config.Options{})
				if err != nil {
					b.Fatal(err)
				}
				s := sched.New(cfg, be.Open(b))
				items := make([]store.SubmitItem, n-1)
				for i := range items {
					items[i] = store.SubmitItem{Node: store.Node{Ref: store.Ref{App: "p", JobID: fmt.Sprintf("1_%d", i)}}, Priority: 100}
				}
				for i := 0; i < len(items); i += store.Batch {
					if _, err := s.Submit(ctx, items[i:min(i+store.Batch, len(items))]); err != nil {
						b.Fatal(err)
					}
				}
				for i := 0; i < len(items); i += 2 {
					if err := s.SetState(ctx, items[i].Ref, store.Skipped, ""); err != nil {
						b.Fatal(err)
					}
				}
				j, err := s.Resolve(store.Ref{App: "c", JobID: "1"})
				if err != nil {
					b.Fatal(err)
				}
				st := newSet(MaxJobs)
				if err := st.add(s, j); err != nil {
					b.Fatal(err)
				}
				p := newPoller(s, st)
				if _, _, err := p.poll(ctx, time.Now()); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					status, _, err := p.poll(ctx, time.Now())
					if err != nil {
						b.Fatal(err)
					}
					r := p.report(status, time.Now())
					if r.All.Total != n || r.All.By[Queued] != (n-1)/2 {
						b.Fatalf("got %+v", r.All)
					}
				}
			})
		}
	}
}

// BenchmarkSet is the set of a child below a fan-in of 100,000 parents:
// computed once per run of stolos-progress, and what it holds for the run
// (see MaxJobs), with the classification of one report.
func BenchmarkSet(b *testing.B) {
	const n = 100_000
	cfg, err := config.Parse([]byte(fmt.Sprintf(`{
		"p": {"job_id": "{d}_{i}", "autofill_values": {"i": "0:%d"}},
		"c": {"job_id": "{d}", "depends_on": {"app_name": ["p"], "i": "all"}}}`, n)), config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	s := sched.New(cfg, nil)
	j, err := s.Resolve(store.Ref{App: "c", JobID: "1"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		st := newSet(MaxJobs)
		if err := st.add(s, j); err != nil {
			b.Fatal(err)
		}
		status := make([]Status, len(st.refs))
		for i := range status {
			status[i] = open
		}
		st.classify(status)
		if len(st.refs) != n+1 || status[n] != Unqueued {
			b.Fatalf("%d jobs, child %v", len(st.refs), status[n])
		}
	}
}
