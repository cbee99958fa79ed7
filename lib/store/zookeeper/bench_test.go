package zookeeper

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// submitJobs submits n jobs of app in calls of batch items each.
func submitJobs(tb testing.TB, b *Backend, app string, n, batch int) {
	tb.Helper()
	ctx := context.Background()
	var items []store.SubmitItem
	for i := range n {
		items = append(items, store.SubmitItem{Node: store.Node{Ref: store.Ref{App: app, JobID: "20140601_" + strconv.Itoa(i)}}, Priority: store.DefaultPriority})
		if len(items) == batch || i == n-1 {
			if _, err := b.Submit(ctx, items); err != nil {
				tb.Fatal(err)
			}
			items = items[:0]
		}
	}
}

// BenchmarkSubmit100k submits 100,000 new jobs in calls of 1,000.
func BenchmarkSubmit100k(bb *testing.B) {
	const n = 100_000
	for i := 0; i < bb.N; i++ {
		bb.StopTimer()
		b, _ := open(bb)
		bb.StartTimer()
		submitJobs(bb, b, "a", n, 1000)
	}
	bb.ReportMetric(float64(n*bb.N)/bb.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkClaimComplete4 claims and completes b.N jobs, one at a time, on
// four goroutines each with its own connection.
func BenchmarkClaimComplete4(bb *testing.B) {
	b, spec := open(bb)
	submitJobs(bb, b, "a", bb.N, 1000)
	var workers []*Backend
	for range 4 {
		w, err := openSpec(spec)
		if err != nil {
			bb.Fatal(err)
		}
		defer w.Close()
		workers = append(workers, w.(*Backend))
	}
	ctx := context.Background()
	var left atomic.Int64
	left.Store(int64(bb.N))
	var wg sync.WaitGroup
	bb.ResetTimer()
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Load() > 0 {
				res, err := w.Claim(ctx, store.ClaimRequest{App: "a", Owner: "w" + strconv.Itoa(i), N: 1, Lease: time.Minute})
				if err != nil {
					bb.Error(err)
					return
				}
				for _, l := range res.Leases {
					if err := w.Complete(ctx, l, "exit 0", nil); err != nil {
						bb.Error(err)
						return
					}
					left.Add(-1)
				}
			}
		}()
	}
	wg.Wait()
	bb.ReportMetric(float64(bb.N)/bb.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkClaim measures one claim (of one job) with 1,000 and 200,000
// jobs queued; each claimed job is released (untimed), so the queue keeps
// its size.
func BenchmarkClaim(bb *testing.B) {
	for _, queued := range []int{1000, 200_000} {
		bb.Run("queued="+strconv.Itoa(queued), func(bb *testing.B) {
			b, _ := open(bb)
			submitJobs(bb, b, "a", queued, 1000)
			ctx := context.Background()
			bb.ResetTimer()
			for range bb.N {
				res, err := b.Claim(ctx, store.ClaimRequest{App: "a", Owner: "w", N: 1, Lease: time.Minute})
				if err != nil || len(res.Leases) != 1 {
					bb.Fatal(len(res.Leases), err)
				}
				bb.StopTimer()
				if err := b.Release(ctx, res.Leases[0]); err != nil {
					bb.Fatal(err)
				}
				bb.StartTimer()
			}
		})
	}
}

// BenchmarkRoundTrip is one Get of a small node: the unit the other
// benchmarks are made of.
func BenchmarkRoundTrip(bb *testing.B) {
	b, _ := open(bb)
	for range bb.N {
		if _, _, err := b.conn.Get(b.p.apps()); err != nil {
			bb.Fatal(err)
		}
	}
}
