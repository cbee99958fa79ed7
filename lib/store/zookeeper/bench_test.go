package zookeeper

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/storetest"
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
	workers := openWorkers(bb, spec, 4)
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

// packets returns the number of packets the shared server has received
// (mntr's zk_packets_received).
func packets(tb testing.TB) int64 {
	tb.Helper()
	out, err := server(tb).FourLetter("mntr", 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "zk_packets_received\t"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatalf("mntr: no zk_packets_received in %q", out)
	return 0
}

// BenchmarkFanIn completes the N parents of one child with two workers,
// each on its own connection, going from one job to the next with
// CompleteClaim as stolos-exec -loop does; b.N is rounded up to whole
// fan-ins. It reports the packets the server received per completion
// (the workers' only: the setup is not counted), which should not grow
// with N.
func BenchmarkFanIn(bb *testing.B) {
	for _, n := range []int{100, 10_000} {
		bb.Run("parents="+strconv.Itoa(n), func(bb *testing.B) {
			b, spec := open(bb)
			workers := openWorkers(bb, spec, 2)
			ctx := context.Background()
			var sent, took int64
			completions := 0
			bb.ResetTimer()
			for k := 0; completions < bb.N; k++ {
				bb.StopTimer()
				app := "p" + strconv.Itoa(k)
				submitJobs(bb, b, app, n, 1000)
				parents := make([]store.Ref, n)
				for i := range parents {
					parents[i] = store.Ref{App: app, JobID: "20140601_" + strconv.Itoa(i)}
				}
				kids := []store.Child{{Node: store.Node{Ref: store.Ref{App: "c", JobID: strconv.Itoa(k)}}, Parents: store.ParentList(parents...)}}
				before := packets(bb)
				start := time.Now()
				bb.StartTimer()
				var wg sync.WaitGroup
				for i, w := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if err := fanInWorker(ctx, w, app, "w"+strconv.Itoa(i), kids); err != nil {
							bb.Error(err)
						}
					}()
				}
				wg.Wait()
				bb.StopTimer()
				took += int64(time.Since(start))
				sent += packets(bb) - before
				completions += n
				res, err := b.Claim(ctx, store.ClaimRequest{App: "c", Owner: "check", N: 2, Lease: time.Minute})
				if err != nil || len(res.Leases) != 1 || res.Leases[0].JobID != strconv.Itoa(k) {
					bb.Fatalf("child after its fan-in: %+v %v", res.Leases, err)
				}
				bb.StartTimer()
			}
			bb.ReportMetric(float64(sent)/float64(completions), "packets/completion")
			bb.ReportMetric(float64(took)/float64(completions)/1e6, "ms/completion")
			bb.ReportMetric(0, "ns/op")
		})
	}
}

// fanInWorker claims and completes jobs of app with the children kids
// until there is none, each completion with the next claim.
func fanInWorker(ctx context.Context, w *Backend, app, owner string, kids []store.Child) error {
	req := store.ClaimRequest{App: app, Owner: owner, N: 1, Lease: time.Minute}
	res, err := w.Claim(ctx, req)
	for err == nil && len(res.Leases) > 0 {
		var done error
		res, done, err = w.CompleteClaim(ctx, res.Leases[0], "exit 0", kids, req)
		if done != nil {
			return done
		}
	}
	return err
}

// BenchmarkReadd measures the readd of a job with 1,000 and 100,000
// descendants (storetest.BenchReadd).
func BenchmarkReadd(bb *testing.B) {
	for _, n := range []int{1000, 100000} {
		bb.Run("descendants="+strconv.Itoa(n), func(bb *testing.B) {
			b, _ := open(bb)
			storetest.BenchReadd(bb, b, n, nil)
		})
	}
}
