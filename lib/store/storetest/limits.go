package storetest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Limits of the tests: app a runs at most 2 jobs at once, and the pool p
// of apps a and b at most 3.
var (
	limitA    = store.Limit{Name: "app a", Max: 2, Apps: []string{"a"}}
	limitPool = store.Limit{Name: "pool p", Max: 3, Apps: []string{"a", "b"}}
)

// limitedReq is a claim request of app under the test limits.
func limitedReq(app, owner string, n int) store.ClaimRequest {
	req := claimReq(app, owner, n, longLease)
	if app == "a" {
		req.Limits = []store.Limit{limitA, limitPool}
	} else {
		req.Limits = []store.Limit{limitPool}
	}
	return req
}

// checkClaimed checks what a limited claim took and which limit it says
// held it back.
func checkClaimed(t *testing.T, what string, res store.ClaimResult, n int, limited string) {
	t.Helper()
	if len(res.Leases) != n || res.Limited != limited {
		t.Fatalf("%s: %d leases %v, limited %q; want %d, limited %q", what, len(res.Leases), ids(res.Leases), res.Limited, n, limited)
	}
}

// testLimits: a claim takes no more jobs than its limits have room for,
// counting the live leases of every app of a limit (transferable ones
// too); the jobs left stay queued; a lease that ends (completed,
// released, expired) frees its slot.
func (s suite) testLimits(t *testing.T) {
	b1, spec := s.open(t)
	b2 := s.openSpec(t, spec)
	var items []store.SubmitItem
	for _, id := range []string{"1", "2", "3", "4", "5", "6", "7", "8"} {
		items = append(items, item("a", id, 100))
	}
	for _, id := range []string{"1", "2", "3"} {
		items = append(items, item("b", id, 100))
	}
	submit(t, b1, items...)

	// a: 2 of 5 (its own limit); b: 1 (the pool's third slot), then none.
	ra := claimAs(t, b1, limitedReq("a", "w1", 5))
	checkClaimed(t, "claim a", ra, 2, "app a")
	rb := claimAs(t, b2, func() store.ClaimRequest { r := limitedReq("b", "w2", 5); r.Transferable = true; return r }())
	checkClaimed(t, "claim b", rb, 1, "pool p")
	checkClaimed(t, "claim b again", claimAs(t, b1, limitedReq("b", "w1", 1)), 0, "pool p")
	checkClaimed(t, "claim a again", claimAs(t, b2, limitedReq("a", "w2", 1)), 0, "app a")
	// Without limits the same queue is claimable: the jobs were left queued.
	for _, r := range []store.Ref{ref("a", "3"), ref("b", "2")} {
		checkJob(t, b1, r, pendingQueued(100))
	}

	// A completion frees a slot of both limits: b takes it.
	complete(t, b1, ra.Leases[0])
	rb2 := claimAs(t, b2, limitedReq("b", "w2", 5))
	checkClaimed(t, "claim b after a completion", rb2, 1, "pool p")
	checkClaimed(t, "claim a with the pool full", claimAs(t, b1, limitedReq("a", "w1", 1)), 0, "pool p")

	// A release frees one too.
	if err := b2.Release(ctx(t), rb2.Leases[0]); err != nil {
		t.Fatal(err)
	}
	ra2 := claimAs(t, b1, limitedReq("a", "w1", 5))
	checkClaimed(t, "claim a after a release", ra2, 1, "app a")

	// A completion and the next claim in one step: the completion's slot
	// is the claim's.
	res, done, err := store.CompleteClaim(ctx(t), b2, ra2.Leases[0], "exit 0", nil, limitedReq("a", "w2", 5))
	if done != nil || err != nil {
		t.Fatalf("complete and claim: %v, %v", done, err)
	}
	checkClaimed(t, "complete and claim a", res, 1, "app a")

	// An expired lease frees its slot: the claim that takes it over
	// counts the abandoned attempt.
	b3 := s.openSpec(t, spec)
	for _, l := range append(ra.Leases[1:], res.Leases...) {
		complete(t, b1, l)
	}
	short := limitedReq("a", "w3", 5)
	short.Lease = shortLease
	rs := claimAs(t, b3, short)
	checkClaimed(t, "claim a for a short lease", rs, 2, "app a")
	waitPast(t, rs.Leases[1].Until)
	again := claimAs(t, b1, limitedReq("a", "w1", 5))
	checkClaimed(t, "claim a after the leases expired", again, 2, "app a")
	if got := strings.Join(ids(again.Leases), " "); got != "5 6" || again.Leases[0].Attempts != 1 {
		t.Fatalf("claim a after the leases expired: %s (attempts %d), want 5 6 (1)", got, again.Leases[0].Attempts)
	}

	// A claim that runs out of jobs before its limit is not limited.
	for _, l := range again.Leases {
		complete(t, b1, l)
	}
	for _, l := range rb.Leases {
		if err := b2.Release(ctx(t), l); err != nil {
			t.Fatal(err)
		}
	}
	rest := claimAs(t, b2, limitedReq("b", "w2", 1))
	checkClaimed(t, "claim b", rest, 1, "")
	checkClaimed(t, "claim of the last a jobs", claimAs(t, b1, limitedReq("a", "w1", 5)), 2, "")
}

// testLimitsHandover: a limit's slot passes between backends, each of
// which saw it free last (a backend may keep what it learned of the slots
// its own leases held): a claim never takes one another backend took
// meanwhile. Then workers of two backends, with a limit of 2, claim and
// complete (in two steps, and in one) until the queue is empty, and the
// jobs they hold at once, counted between a claim's return and its
// completion's call (within the leases), never pass 2.
func (s suite) testLimitsHandover(t *testing.T) {
	b1, spec := s.open(t)
	b2 := s.openSpec(t, spec)
	var items []store.SubmitItem
	for i := range 46 {
		items = append(items, item("a", strconv.Itoa(i), 100))
	}
	submit(t, b1, items...)
	one := store.Limit{Name: "app a", Max: 1, Apps: []string{"a"}}
	req := func(owner string) store.ClaimRequest {
		r := claimReq("a", owner, 1, longLease)
		r.Limits = []store.Limit{one}
		return r
	}
	r1 := claimAs(t, b1, req("w1"))
	checkClaimed(t, "claim of b1", r1, 1, "")
	complete(t, b1, r1.Leases[0])
	r2 := claimAs(t, b2, req("w2"))
	checkClaimed(t, "claim of b2 after b1's completion", r2, 1, "")
	checkClaimed(t, "claim of b1 while b2 holds the slot", claimAs(t, b1, req("w1")), 0, "app a")
	r3, done, err := store.CompleteClaim(ctx(t), b2, r2.Leases[0], "exit 0", nil, req("w2"))
	if done != nil || err != nil {
		t.Fatalf("complete and claim: %v, %v", done, err)
	}
	checkClaimed(t, "complete and claim of b2", r3, 1, "")
	checkClaimed(t, "claim of b1 after b2's complete and claim", claimAs(t, b1, req("w1")), 0, "app a")
	if err := b2.Release(ctx(t), r3.Leases[0]); err != nil {
		t.Fatal(err)
	}
	r4 := claimAs(t, b1, req("w1"))
	checkClaimed(t, "claim of b1 after b2's release", r4, 1, "")
	complete(t, b1, r4.Leases[0])

	two := store.Limit{Name: "pool p", Max: 2, Apps: []string{"a", "b"}}
	var running, most atomic.Int32
	errs := make(chan error, 4)
	for w := range 4 {
		be := []store.Backend{b1, b2}[w%2]
		go func() {
			r := claimReq("a", "w"+strconv.Itoa(w), 1, longLease)
			r.Limits = []store.Limit{two}
			errs <- func() error {
				res, err := be.Claim(context.Background(), r)
				for err == nil && (len(res.Leases) > 0 || res.Limited != "") {
					if len(res.Leases) == 0 {
						res, err = be.Claim(context.Background(), r)
						continue
					}
					n := running.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					running.Add(-1)
					if w < 2 {
						if err = be.Complete(context.Background(), res.Leases[0], "exit 0", nil); err == nil {
							res, err = be.Claim(context.Background(), r)
						}
					} else {
						var done error
						res, done, err = store.CompleteClaim(context.Background(), be, res.Leases[0], "exit 0", nil, r)
						err = errors.Join(done, err)
					}
				}
				return err
			}()
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if m := most.Load(); m > 2 {
		t.Fatalf("%d jobs held at once under a limit of 2", m)
	}
	for i := range 46 {
		checkJob(t, b1, ref("a", strconv.Itoa(i)), view{State: store.Completed, Outcome: "exit 0"})
	}
}

// testLimitsBadInput: limits that make no sense are refused, and change
// nothing.
func (s suite) testLimitsBadInput(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("a", "1", 100))
	for _, tc := range []struct {
		limit store.Limit
		want  string
	}{
		{store.Limit{Name: "app a", Max: 0, Apps: []string{"a"}}, "claim a: limit app a: max 0 is less than 1"},
		{store.Limit{Name: "pool p", Max: 1, Apps: []string{"b"}}, `claim a: limit pool p: its apps do not include "a"`},
		{store.Limit{Max: 1, Apps: []string{"a"}}, "claim a: a limit with no name"},
		{store.Limit{Name: "pool p", Max: 1, Apps: []string{"a", ""}}, "claim a: limit pool p: empty app name"},
	} {
		req := claimReq("a", "w", 1, longLease)
		req.Limits = []store.Limit{tc.limit}
		_, err := b.Claim(ctx(t), req)
		if err == nil || !errors.Is(err, store.ErrInvalid) || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("claim with %+v: %v, want store.ErrInvalid %q", tc.limit, err, tc.want)
		}
	}
	checkJob(t, b, ref("a", "1"), pendingQueued(100))
}

// BenchLimits measures what limits cost a claim and completion, in two
// sub-benchmarks: Separate, a Claim and then a Complete of each job, and
// Worker, a Claim and then CompleteClaim (the completion and the next
// claim in one step), as a stolos-exec -loop worker does. Each iteration
// (b.N, 1 for a benchmark time under the time one takes, as `make
// bench`'s default) runs many short blocks of four rounds in the order
// ABBA (so that both sides see the same load, and neither always runs on
// the data the other left): in each round two workers claim and complete
// jobs (jobs of them, queued for the round, of one app throughout) one at
// a time, without limits (A) or with an app limit and a pool that never
// bind (B). It reports the median wall time and CPU time (of this
// process: all of it for the local backend, the client's for the others)
// per job of each side, and the median over the blocks of each block's
// ratio, limited over none: the figures of one block are measured side
// by side, within a second on a shared machine whose load swings.
func BenchLimits(b *testing.B, h Harness, jobs int) {
	for _, worker := range []bool{false, true} {
		name := "Separate"
		if worker {
			name = "Worker"
		}
		b.Run(name, func(b *testing.B) { benchLimits(b, h, jobs, worker) })
	}
}

func benchLimits(b *testing.B, h Harness, jobs int, worker bool) {
	const blocks = 15
	bs := h.twoBackends(b)
	var none, limited, noneCPU, limitedCPU, ratio, ratioCPU []float64
	r := 0
	b.ResetTimer()
	for range b.N {
		for range blocks {
			var wall, cpu [2]float64 // none, limited
			for k := range 4 {
				w, c := limitsRound(b, bs, "r"+strconv.Itoa(r), jobs, k == 1 || k == 2, worker)
				r++
				if k == 1 || k == 2 {
					limited, limitedCPU = append(limited, w), append(limitedCPU, c)
					wall[1], cpu[1] = wall[1]+w, cpu[1]+c
				} else {
					none, noneCPU = append(none, w), append(noneCPU, c)
					wall[0], cpu[0] = wall[0]+w, cpu[0]+c
				}
			}
			ratio, ratioCPU = append(ratio, wall[1]/wall[0]), append(ratioCPU, cpu[1]/cpu[0])
		}
	}
	b.ReportMetric(median(none), "none-ns/job")
	b.ReportMetric(median(limited), "limited-ns/job")
	b.ReportMetric(median(ratio), "limited/none")
	b.ReportMetric(median(noneCPU), "none-cpu-ns/job")
	b.ReportMetric(median(limitedCPU), "limited-cpu-ns/job")
	b.ReportMetric(median(ratioCPU), "limited/none-cpu")
}

// limitsRound queues jobs jobs of app a (their ids prefixed by round),
// which the workers bs then claim and complete one at a time (a
// CompleteClaim after the first Claim if worker), with limits that never
// bind if limited; it returns the wall and CPU time per job, in
// nanoseconds (the queueing is not timed).
func limitsRound(b *testing.B, bs []store.Backend, round string, jobs int, limited, worker bool) (float64, float64) {
	const app = "a"
	b.StopTimer()
	var items []store.SubmitItem
	for i := range jobs {
		items = append(items, item(app, round+"-"+strconv.Itoa(i), 100))
		if len(items) == store.Batch || i == jobs-1 {
			if _, err := bs[0].Submit(context.Background(), items); err != nil {
				b.Fatal(err)
			}
			items = items[:0]
		}
	}
	var limits []store.Limit
	if limited {
		limits = []store.Limit{
			{Name: "app a", Max: 1 << 20, Apps: []string{app}},
			{Name: "pool p", Max: 1 << 20, Apps: []string{app, "b"}},
		}
	}
	b.StartTimer()
	start, cpu := time.Now(), cpuTime()
	errs := make(chan error, len(bs))
	for w, be := range bs {
		go func() {
			req := claimReq(app, "w"+strconv.Itoa(w), 1, longLease)
			req.Limits = limits
			for {
				res, err := be.Claim(context.Background(), req)
				if err != nil || len(res.Leases) == 0 {
					errs <- err
					return
				}
				if worker {
					var done error
					res, done, err = store.CompleteClaim(context.Background(), be, res.Leases[0], "exit 0", nil, req)
					for err == nil && done == nil && len(res.Leases) > 0 {
						res, done, err = store.CompleteClaim(context.Background(), be, res.Leases[0], "exit 0", nil, req)
					}
					errs <- errors.Join(done, err)
					return
				}
				if err := be.Complete(context.Background(), res.Leases[0], "exit 0", nil); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range bs {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(jobs), float64((cpuTime() - cpu).Nanoseconds()) / float64(jobs)
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
