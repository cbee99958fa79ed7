package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/redis/redistest"
	"github.com/stolos-sched/stolos/lib/store/storetest"
)

// benchOpen opens a backend on a fresh namespace of the shared server.
func benchOpen(b *testing.B) *Backend {
	b.Helper()
	be, err := openSpec(newSpec(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return be.(*Backend)
}

// fill queues n jobs "prefix0".."prefix<n-1>" of app in batches.
func fill(b *testing.B, be *Backend, app, prefix string, n int) {
	b.Helper()
	const batch = 5000
	ctx := context.Background()
	for i := 0; i < n; i += batch {
		items := make([]store.SubmitItem, 0, batch)
		for j := i; j < n && j < i+batch; j++ {
			items = append(items, item(app, prefix+strconv.Itoa(j), store.DefaultPriority))
		}
		if _, err := be.Submit(ctx, items); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSubmit submits new jobs in batches of 1000 (one script per
// batch); run with -benchtime=100x for 100,000 jobs.
func BenchmarkSubmit(b *testing.B) {
	be := benchOpen(b)
	ctx := context.Background()
	const batch = 1000
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		items := make([]store.SubmitItem, batch)
		for j := range items {
			items[j] = item("a", strconv.Itoa(i*batch+j), store.DefaultPriority)
		}
		if _, err := be.Submit(ctx, items); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkClaimComplete runs b.N queued jobs with 4 goroutines, each
// claiming one job at a time and completing it.
func BenchmarkClaimComplete(b *testing.B) {
	be := benchOpen(b)
	fill(b, be, "a", "", b.N)
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			req := store.ClaimRequest{App: "a", Owner: "w" + strconv.Itoa(w), N: 1, Lease: time.Minute}
			for {
				r, err := be.Claim(ctx, req)
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
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	c, err := be.Count(context.Background(), "a")
	if err != nil || c.States[store.Completed] != b.N {
		b.Fatalf("count %+v %v, want %d completed", c, err, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkClaimLatency measures one Claim of one job with 1,000 and
// 200,000 jobs waiting, and with 100,000 more held under live leases (which
// a claim must not scan). The job is released again, untimed.
func BenchmarkClaimLatency(b *testing.B) {
	for _, tc := range []struct{ queued, leased int }{{1000, 0}, {200000, 0}, {200000, 100000}} {
		b.Run(fmt.Sprintf("queued=%d/leased=%d", tc.queued, tc.leased), func(b *testing.B) {
			be := benchOpen(b)
			ctx := context.Background()
			if tc.leased > 0 {
				fill(b, be, "a", "l", tc.leased)
				if _, err := be.Claim(ctx, store.ClaimRequest{App: "a", Owner: "holder", N: tc.leased, Lease: time.Hour}); err != nil {
					b.Fatal(err)
				}
			}
			fill(b, be, "a", "q", tc.queued)
			req := store.ClaimRequest{App: "a", Owner: "w", N: 1, Lease: time.Minute}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r, err := be.Claim(ctx, req)
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

// BenchmarkReadd measures the readd of a job with 1,000 and 100,000
// descendants (storetest.BenchReadd), on a server of its own, and reports
// the longest script the readds ran (SLOWLOG), and their number and
// average time (INFO commandstats).
func BenchmarkReadd(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("descendants=%d", n), func(b *testing.B) {
			srv := redistest.Start(b)
			ctx := context.Background()
			be, err := Open(ctx, Options{Host: srv.Host(), Port: srv.Port(), KeyPrefix: "b:"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close()
			c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
			defer c.Close()
			storetest.BenchReadd(b, be, n, func() {
				for _, kv := range [][2]string{{"slowlog-log-slower-than", "1000"}, {"slowlog-max-len", "100000"}} {
					if err := c.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
						b.Fatal(err)
					}
				}
				if err := c.SlowLogReset(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				if err := c.ConfigResetStat(ctx).Err(); err != nil {
					b.Fatal(err)
				}
			})
			b.StopTimer()
			logs, err := c.SlowLogGet(ctx, 100000).Result()
			if err != nil {
				b.Fatal(err)
			}
			var longest time.Duration
			for _, l := range logs {
				if len(l.Args) > 0 && strings.HasPrefix(strings.ToUpper(l.Args[0]), "EVAL") {
					longest = max(longest, l.Duration)

				}
			}
			b.ReportMetric(float64(longest.Microseconds())/1000, "max-script-ms")
			info, err := c.Info(ctx, "commandstats").Result()
			if err != nil {
				b.Fatal(err)
			}
			for _, line := range strings.Split(info, "\n") {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:"); ok {
					var calls, usec int64
					var per float64
					if _, err := fmt.Sscanf(rest, "calls=%d,usec=%d,usec_per_call=%f", &calls, &usec, &per); err != nil {
						b.Fatalf("commandstats %q: %v", line, err)
					}
					b.ReportMetric(float64(calls)/float64(b.N), "scripts/op")
					b.ReportMetric(per/1000, "avg-script-ms")
				}
			}
		})
	}
}
