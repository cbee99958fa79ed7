package local

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/storetest"
)

func openBench(b *testing.B, path string) *Backend {
	b.Helper()
	be, err := Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return be
}

// fill submits n jobs of app in batches of batch, numbered from first.
func fill(b *testing.B, be *Backend, app string, first, n, batch int) {
	b.Helper()
	ctx := context.Background()
	items := make([]store.SubmitItem, 0, batch)
	for i := first; i < first+n; i++ {
		items = append(items, store.SubmitItem{
			Node:     store.Node{Ref: store.Ref{App: app, JobID: fmt.Sprintf("20140601_%d", i)}},
			Priority: 100 + i%10,
		})
		if len(items) == batch || i == first+n-1 {
			if _, err := be.Submit(ctx, items); err != nil {
				b.Fatal(err)
			}
			items = items[:0]
		}
	}
}

// BenchmarkSubmit submits jobs in batches of 1,000 (100,000 jobs with
// -benchtime=100000x); it reports jobs/s.
func BenchmarkSubmit(b *testing.B) {
	be := openBench(b, filepath.Join(b.TempDir(), "stolos.db"))
	b.ResetTimer()
	start := time.Now()
	fill(b, be, "app", 0, b.N, 1000)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}

// cpuTime is the CPU time (user and system) of the process so far: a
// figure that other processes on the machine disturb less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkClaimComplete: 4 goroutines, each with its own Backend on the
// same file, claim one job at a time and complete it; it reports jobs/s.
func BenchmarkClaimComplete(b *testing.B) {
	path := filepath.Join(b.TempDir(), "stolos.db")
	fill(b, openBench(b, path), "app", 0, b.N, 1000)
	const workers = 4
	bes := make([]*Backend, workers)
	for i := range bes {
		bes[i] = openBench(b, path)
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	ctx := context.Background()
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	for w, be := range bes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				r, err := be.Claim(ctx, store.ClaimRequest{App: "app", Owner: fmt.Sprint("w", w), N: 1, Lease: time.Minute})
				if err != nil {
					errs <- err
					return
				}
				if len(r.Leases) == 0 {
					return
				}
				if err := be.Complete(ctx, r.Leases[0], "exit 0", nil); err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(done.Load())/time.Since(start).Seconds(), "jobs/s")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/job")
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	if done.Load() != int64(b.N) {
		b.Fatalf("completed %d of %d", done.Load(), b.N)
	}
}

// BenchmarkClaimLatency measures one claim (and a release, to keep the
// queue as it was) with 1,000 and with 200,000 jobs queued.
func BenchmarkClaimLatency(b *testing.B) {
	for _, n := range []int{1000, 200000} {
		b.Run(fmt.Sprint("queued=", n), func(b *testing.B) {
			be := openBench(b, filepath.Join(b.TempDir(), "stolos.db"))
			fill(b, be, "app", 0, n, 5000)
			fill(b, be, "other", 0, 1000, 1000)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r, err := be.Claim(ctx, store.ClaimRequest{App: "app", Owner: "w", N: 1, Lease: time.Minute})
				if err != nil || len(r.Leases) != 1 {
					b.Fatalf("claim: %v %v", r, err)
				}
				b.StopTimer()
				if err := be.Release(ctx, r.Leases[0]); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkCount counts an app of 1,000,000 jobs (1,000 of them completed,
// 10 claimed) beside another app.
func BenchmarkCount(b *testing.B) {
	be := openBench(b, filepath.Join(b.TempDir(), "stolos.db"))
	fill(b, be, "app", 0, 1_000_000, 10_000)
	fill(b, be, "other", 0, 1000, 1000)
	ctx := context.Background()
	r, err := be.Claim(ctx, store.ClaimRequest{App: "app", Owner: "w", N: 1010, Lease: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range r.Leases[:1000] {
		if err := be.Complete(ctx, l, "exit 0", nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := be.Count(ctx, "app")
		if err != nil || c.States[store.Completed] != 1000 || c.Queued != 999_000 || c.Claimed != 10 {
			b.Fatalf("count: %+v %v", c, err)
		}
	}
}

// BenchmarkReadd measures the readd of a job with 1,000 and 100,000
// descendants (storetest.BenchReadd).
func BenchmarkReadd(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("descendants=%d", n), func(b *testing.B) {
			storetest.BenchReadd(b, openBench(b, filepath.Join(b.TempDir(), "stolos.db")), n, nil)
		})
	}
}

// BenchmarkWide times: a Park of a child with 100,000 absent parents (all
// queued by it), in steps (its longest step: step-ms); and the
// completion of the last of 100,000 parents of a child that has no fan-in
// record yet (the others completed without it), which reads every parent
// in steps (its write transactions: steps, the longest: step-ms). Run it
// with -benchtime=1x.
func BenchmarkWide(b *testing.B) {
	const n = 100000
	ctx := context.Background()
	parents := make([]store.Ref, n)
	for i := range parents {
		parents[i] = store.Ref{App: "p", JobID: fmt.Sprintf("20140601_%d", i)}
	}
	b.Run("park", func(b *testing.B) {
		for range b.N {
			be := openBench(b, filepath.Join(b.TempDir(), "q.db"))
			fill(b, be, "c", 0, 1, 1)
			r, err := be.Claim(ctx, store.ClaimRequest{App: "c", Owner: "w", N: 1, Lease: time.Hour})
			if err != nil || len(r.Leases) != 1 {
				b.Fatalf("claim: %v %v", r, err)
			}
			above := make([]store.Node, n)
			for i, p := range parents {
				above[i] = store.Node{Ref: p}
			}
			start := time.Now()
			ts := &timedSteps{Backend: be}
			if res, err := store.ParkInSteps(ctx, ts, r.Leases[0], parents, above); err != nil || res.Ready {
				b.Fatalf("park: ready %v, %v", res.Ready, err)
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "park-ms")
			b.ReportMetric(float64(ts.longest.Microseconds())/1000, "step-ms")
		}
	})
	b.Run("build", func(b *testing.B) {
		for range b.N {
			be := openBench(b, filepath.Join(b.TempDir(), "q.db"))
			fill(b, be, "p", 0, n, 1000)
			for _, p := range parents[:n-1] {
				if err := be.Complete(ctx, store.Lease{Ref: p}, "exit 0", nil); err != nil {
					b.Fatal(err)
				}
			}
			c := store.Child{Node: store.Node{Ref: store.Ref{App: "c", JobID: "1"}}, Parents: store.ParentList(parents...)}
			var longest time.Duration
			steps := 0
			be.txDone = func(_ int, held time.Duration) { longest, steps = max(longest, held), steps+1 }
			start := time.Now()
			if err := be.Complete(ctx, store.Lease{Ref: parents[n-1]}, "exit 0", []store.Child{c}); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "complete-ms")
			b.ReportMetric(float64(longest.Microseconds())/1000, "step-ms")
			b.ReportMetric(float64(steps), "steps")
		}
	})
}

// timedSteps is a backend whose Park steps are timed.
type timedSteps struct {
	*Backend
	longest time.Duration
}

func (ts *timedSteps) time(start time.Time) { ts.longest = max(ts.longest, time.Since(start)) }

func (ts *timedSteps) QueueAbove(ctx context.Context, l store.Lease, nodes []store.Node) (int, error) {
	defer ts.time(time.Now())
	return ts.Backend.QueueAbove(ctx, l, nodes)
}

func (ts *timedSteps) ParkStep(ctx context.Context, l store.Lease, parents []store.Ref, above []store.Node) (store.ParkResult, error) {
	defer ts.time(time.Now())
	return ts.Backend.ParkStep(ctx, l, parents, above)
}
