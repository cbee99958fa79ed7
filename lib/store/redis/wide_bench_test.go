package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/redis/redistest"
)

// BenchmarkWideScripts reports the longest script the server ran
// (SLOWLOG, on a server of its own, every script of 1 ms or more logged),
// how many scripts it ran (INFO commandstats) and how many of those took
// over 50 ms, in each of: a Park of a child with 100,000 absent parents; and a fan-in
// of 100,000 parents whose child's record is built when half of them are
// completed (4 goroutines complete the other half, the last completion
// reads every parent again before queueing the child). DESIGN.md's bound
// is 50 ms. Run it with -benchtime=1x.
func BenchmarkWideScripts(b *testing.B) {
	const n = 100000
	srv := redistest.Start(b)
	ns := 0
	open := func(b *testing.B) *Backend {
		ns++
		be, err := openSpec("redis://" + srv.Addr() + "/0?prefix=w" + strconv.Itoa(ns) + ":")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { be.Close() })
		return be.(*Backend)
	}
	parents := make([]store.Ref, n)
	for i := range parents {
		parents[i] = store.Ref{App: "p", JobID: fmt.Sprintf("%06d", i)}
	}
	ctx := context.Background()
	b.Run("park", func(b *testing.B) {
		for range b.N {
			be := open(b)
			above := make([]store.Node, n)
			for i, p := range parents {
				above[i] = store.Node{Ref: p}
			}
			fill(b, be, "c", "", 1)
			r, err := be.Claim(ctx, store.ClaimRequest{App: "c", Owner: "w", N: 1, Lease: time.Hour})
			if err != nil || len(r.Leases) != 1 {
				b.Fatalf("claim: %v %v", r, err)
			}
			slowlogReset(b, be)
			res, err := be.Park(ctx, r.Leases[0], parents, above)
			if err != nil || res.Ready {
				b.Fatalf("park: ready %v, %v", res.Ready, err)
			}
			slowlogReport(b, be)
		}
	})
	b.Run("fanin-late", func(b *testing.B) {
		for range b.N {
			be := open(b)
			items := make([]store.SubmitItem, 0, 1000)
			for i := 0; i < n; i += 1000 {
				items = items[:0]
				for _, p := range parents[i : i+1000] {
					items = append(items, store.SubmitItem{Node: store.Node{Ref: p}, Priority: 100})
				}
				if _, err := be.Submit(ctx, items); err != nil {
					b.Fatal(err)
				}
			}
			c := store.Child{Node: store.Node{Ref: store.Ref{App: "c", JobID: "1"}}, Parents: store.ParentList(parents...)}
			completeAll(b, be, parents[:n/2], nil)
			slowlogReset(b, be)
			completeAll(b, be, parents[n/2:], []store.Child{c})
			slowlogReport(b, be)
			j, err := be.Get(ctx, []store.Ref{c.Ref})
			if err != nil || j[0].State != store.Pending || !j[0].Queued {
				b.Fatalf("child after its parents: %+v %v, want pending and queued", j, err)
			}
		}
	})
}

// completeAll completes refs without leases, with 4 goroutines.
func completeAll(b *testing.B, be *Backend, refs []store.Ref, kids []store.Child) {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(refs); i += 4 {
				if err := be.Complete(context.Background(), store.Lease{Ref: refs[i]}, "exit 0", kids); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// slowlogReset logs every command of 1 ms or more, from now on, and
// zeroes the command counts.
func slowlogReset(b *testing.B, be *Backend) {
	ctx := context.Background()
	for _, args := range [][]any{
		{"CONFIG", "SET", "slowlog-log-slower-than", "1000"},
		{"CONFIG", "SET", "slowlog-max-len", "100000"},
		{"SLOWLOG", "RESET"},
		{"CONFIG", "RESETSTAT"},
	} {
		if err := be.c.Do(ctx, args...).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// slowlogReport reports the longest command in SLOWLOG (ms), the scripts
// run since slowlogReset, and how many commands took over 50 ms.
func slowlogReport(b *testing.B, be *Backend) {
	ctx := context.Background()
	logs, err := be.c.SlowLogGet(ctx, -1).Result()
	if err != nil {
		b.Fatal(err)
	}
	var longest time.Duration
	over := 0
	for _, l := range logs {
		longest = max(longest, l.Duration)
		if l.Duration > 50*time.Millisecond {
			over++
		}
	}
	stats, err := be.c.Info(ctx, "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	scripts := 0
	for _, line := range strings.Split(stats, "\r\n") {
		for _, cmd := range []string{"cmdstat_evalsha:calls=", "cmdstat_eval:calls="} {
			if rest, ok := strings.CutPrefix(line, cmd); ok {
				n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
				scripts += n
			}
		}
	}
	b.ReportMetric(float64(longest.Microseconds())/1000, "max-script-ms")
	b.ReportMetric(float64(scripts), "scripts")
	b.ReportMetric(float64(over), "over-50ms")
}
