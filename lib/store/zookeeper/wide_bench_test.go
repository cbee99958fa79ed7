package zookeeper

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// BenchmarkWide reports the largest multi-op request (bytes, as multiSize
// counts them; ZooKeeper's limit is 1 MiB, stolos's 768 KiB) and the time
// of: a Park of a child with 100,000 absent parents; and a fan-in of
// 20,000 parents whose child's record is built when half of them are
// completed (4 goroutines complete the other half). Run it with
// -benchtime=1x.
func BenchmarkWide(bb *testing.B) {
	ctx := context.Background()
	refs := func(app string, n int) []store.Ref {
		out := make([]store.Ref, n)
		for i := range out {
			out[i] = store.Ref{App: app, JobID: fmt.Sprintf("%06d", i)}
		}
		return out
	}
	bb.Run("park-100000", func(bb *testing.B) {
		for range bb.N {
			b, _ := open(bb)
			parents := refs("p", 100000)
			above := make([]store.Node, len(parents))
			for i, p := range parents {
				above[i] = store.Node{Ref: p}
			}
			submitJobs(bb, b, "c", 1, 1)
			r, err := b.Claim(ctx, store.ClaimRequest{App: "c", Owner: "w", N: 1, Lease: time.Hour})
			if err != nil || len(r.Leases) != 1 {
				bb.Fatalf("claim: %v %v", r, err)
			}
			b.largest.Store(0)
			start := time.Now()
			res, err := b.Park(ctx, r.Leases[0], parents, above)
			if err != nil || res.Ready {
				bb.Fatalf("park: ready %v, %v", res.Ready, err)
			}
			bb.ReportMetric(time.Since(start).Seconds(), "park-s")
			bb.ReportMetric(float64(b.largest.Load()), "largest-request-bytes")
		}
	})
	bb.Run("fanin-late-20000", func(bb *testing.B) {
		for range bb.N {
			b, spec := open(bb)
			parents := refs("p", 20000)
			items := make([]store.SubmitItem, len(parents))
			for i, p := range parents {
				items[i] = store.SubmitItem{Node: store.Node{Ref: p}, Priority: store.DefaultPriority}
			}
			for i := 0; i < len(items); i += 1000 {
				if _, err := b.Submit(ctx, items[i:i+1000]); err != nil {
					bb.Fatal(err)
				}
			}
			c := store.Child{Node: store.Node{Ref: store.Ref{App: "c", JobID: "1"}}, Parents: store.ParentList(parents...)}
			workers := openWorkers(bb, spec, 4)
			run := func(part []store.Ref, kids []store.Child) {
				var wg sync.WaitGroup
				errs := make(chan error, len(workers))
				for w, be := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := w; i < len(part); i += len(workers) {
							if err := be.Complete(ctx, store.Lease{Ref: part[i]}, "exit 0", kids); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					bb.Fatal(err)
				}
			}
			run(parents[:len(parents)/2], nil)
			for _, w := range workers {
				w.largest.Store(0)
			}
			start := time.Now()
			run(parents[len(parents)/2:], []store.Child{c})
			bb.ReportMetric(time.Since(start).Seconds(), "fanin-s")
			var largest int64
			for _, w := range workers {
				largest = max(largest, w.largest.Load())
			}
			bb.ReportMetric(float64(largest), "largest-request-bytes")
			j, err := b.Get(ctx, []store.Ref{c.Ref})
			if err != nil || j[0].State != store.Pending || !j[0].Queued {
				bb.Fatalf("child after its parents: %+v %v, want pending and queued", j, err)
			}
		}
	})
}
