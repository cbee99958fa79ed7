package storetest

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// The attempt history (store.Attempt): recorded with each outcome,
// numbered per job and never renumbered, kept in a ring of
// store.DefaultKeep per job.

// brief is the part of an attempt a test asserts exactly.
type brief struct {
	Seq     int64
	Worker  string
	Outcome string
	Log     string
}

func (a brief) String() string {
	return fmt.Sprintf("{%d %s %q %s}", a.Seq, a.Worker, a.Outcome, a.Log)
}

// history reads the attempts of r and checks their times: each started
// no later than it ended, and both between since and now.
func history(t *testing.T, b store.Backend, r store.Ref, since time.Time) []brief {
	t.Helper()
	hs, err := b.History(ctx(t), []store.Ref{r})
	if err != nil {
		t.Fatalf("history %v: %v", r, err)
	}
	if len(hs) != 1 {
		t.Fatalf("history of 1 ref: %d lists", len(hs))
	}
	lo, hi := since.Add(-tolerance), time.Now().Add(tolerance)
	var out []brief
	for _, a := range hs[0] {
		if a.Ref != r {
			t.Fatalf("history %v: attempt of %v", r, a.Ref)
		}
		if a.Start.Before(lo) || a.End.Before(a.Start.Add(-tolerance)) || a.End.After(hi) {
			t.Fatalf("history %v: attempt %d from %v to %v, want within %v..%v", r, a.Seq, a.Start, a.End, lo, hi)
		}
		out = append(out, brief{a.Seq, a.Worker, a.Outcome, a.Log})
	}
	return out
}

func checkHistory(t *testing.T, b store.Backend, r store.Ref, since time.Time, want ...brief) {
	t.Helper()
	if got := history(t, b, r, since); !reflect.DeepEqual(got, want) && (len(got) != 0 || len(want) != 0) {
		t.Fatalf("history %v:\n got %v\nwant %v", r, got, want)
	}
}

// withLog is l as its holder has it once the command started.
func withLog(l store.Lease) store.Lease {
	l.Log = fmt.Sprintf("host1:/log/%s/%s/%d.log", l.App, l.JobID, l.Seq)
	return l
}

func logOf(r store.Ref, seq int64) string {
	return fmt.Sprintf("host1:/log/%s/%s/%d.log", r.App, r.JobID, seq)
}

// testHistoryRetries: failures, a success (by Complete and CompleteClaim)
// each record an attempt with their worker, outcome and log; a readd, a
// SetState and a completion without a lease renumber nothing and record
// nothing.
func (s suite) testHistoryRetries(t *testing.T) {
	b, _ := s.open(t)
	since := time.Now()
	h1, h2 := ref("h", "1"), ref("h", "2")
	submit(t, b, item("h", "1", 1), item("h", "2", 2))
	checkHistory(t, b, h1, since)
	l := claimOne(t, b, "h", longLease)
	if l.Ref != h1 || l.Seq != 1 {
		t.Fatalf("first claim: %v seq %d, want h 1 seq 1", l.Ref, l.Seq)
	}
	fail(t, b, withLog(l), "exit 3", 3, 0)
	l = claimOne(t, b, "h", longLease)
	if l.Ref != h1 || l.Seq != 2 {
		t.Fatalf("second claim: %v seq %d, want h 1 seq 2", l.Ref, l.Seq)
	}
	res, done, err := b.CompleteClaim(ctx(t), withLog(l), "exit 0", nil, claimReq("h", "w2", 1, longLease))
	if done != nil || err != nil || len(res.Leases) != 1 || res.Leases[0].Ref != h2 || res.Leases[0].Seq != 1 {
		t.Fatalf("complete and claim: %+v, %v, %v; want a lease on h 2 seq 1", res, done, err)
	}
	complete(t, b, withLog(res.Leases[0]))
	checkHistory(t, b, h1, since,
		brief{1, "w1", "exit 3", logOf(h1, 1)},
		brief{2, "w1", "exit 0", logOf(h1, 2)})
	checkHistory(t, b, h2, since, brief{1, "w2", "exit 0", logOf(h2, 1)})

	// A readd resets the attempt count, not the numbering.
	readd := item("h", "1", 1)
	readd.Readd = true
	submit(t, b, readd)
	l = claimOne(t, b, "h", longLease)
	if l.Seq != 3 || l.Attempts != 0 {
		t.Fatalf("claim after a readd: seq %d attempts %d, want seq 3 attempts 0", l.Seq, l.Attempts)
	}
	if final := fail(t, b, withLog(l), "signal KILL", 1, 0); !final {
		t.Fatalf("fail with max retry 1: not final")
	}
	// SetState and a completion without a lease are no attempts.
	setState(t, b, h1, store.Pending, "")
	completeRef(t, b, h1)
	setState(t, b, h1, store.Pending, "")
	l = acquire(t, b, h1, "w3", longLease)
	if l.Seq != 4 {
		t.Fatalf("acquire after set: seq %d, want 4", l.Seq)
	}
	complete(t, b, withLog(l))
	checkHistory(t, b, h1, since,
		brief{1, "w1", "exit 3", logOf(h1, 1)},
		brief{2, "w1", "exit 0", logOf(h1, 2)},
		brief{3, "w1", "signal KILL", logOf(h1, 3)},
		brief{4, "w3", "exit 0", logOf(h1, 4)})

	// History reads a batch in the order asked, absent jobs included.
	hs, err := b.History(ctx(t), []store.Ref{h2, ref("h", "absent"), h1})
	if err != nil || len(hs) != 3 || len(hs[0]) != 1 || len(hs[1]) != 0 || len(hs[2]) != 4 {
		t.Fatalf("history of three jobs: %v, %v; want 1, 0 and 4 attempts", hs, err)
	}
}

// testHistoryLeases: which leases are attempts. An abandoned lease is
// recorded by the claim that finds it (ended at the lease's end, log
// unknown); a lease released after its command started (Log set) is
// recorded as released, or revoked; one released before, a transferable
// lease and a parked one record nothing, and Park gives its number back.
func (s suite) testHistoryLeases(t *testing.T) {
	b, _ := s.open(t)
	since := time.Now()
	a1, a2, a3, p := ref("a", "1"), ref("a", "2"), ref("a", "3"), ref("p", "1")
	submit(t, b, item("a", "1", 1), item("a", "2", 2), item("a", "3", 3))

	l := claimOne(t, b, "a", shortLease)
	waitPast(t, l.Until)
	l2 := claimOne(t, b, "a", longLease)
	if l2.Ref != a1 || l2.Seq != 2 || l2.Attempts != 1 {
		t.Fatalf("claim after an abandoned lease: %v seq %d attempts %d, want a 1 seq 2 attempts 1", l2.Ref, l2.Seq, l2.Attempts)
	}
	hs := getHistory(t, b, a1)
	if len(hs) != 1 || !near(hs[0].End, l.Until) {
		t.Fatalf("abandoned attempt: %+v, want one that ended at %v", hs, l.Until)
	}
	// Released before the command started: nothing recorded, the
	// number stays used.
	if err := b.Release(ctx(t), l2); err != nil {
		t.Fatalf("release: %v", err)
	}
	l3 := claimOne(t, b, "a", longLease)
	if err := b.Release(ctx(t), withLog(l3)); err != nil {
		t.Fatalf("release: %v", err)
	}
	checkHistory(t, b, a1, since,
		brief{1, "w1", store.AbandonedOutcome("w1"), ""},
		brief{3, "w1", store.ReleasedOutcome(false), logOf(a1, 3)})

	// A revoked lease released by its holder.
	l4 := acquire(t, b, a1, "w2", longLease)
	setState(t, b, a1, store.Failed, "set by hand")
	if err := b.Release(ctx(t), withLog(l4)); err != nil {
		t.Fatalf("release of a revoked lease: %v", err)
	}
	if got := history(t, b, a1, since); len(got) != 3 || got[2] != (brief{4, "w2", store.ReleasedOutcome(true), logOf(a1, 4)}) {
		t.Fatalf("history after a revoked lease: %v, want attempt 4 revoked", got)
	}

	// A transferable lease has no number; the Acquire that takes it over
	// takes one.
	tr := claimReq("a", "claimer", 1, longLease)
	tr.Transferable = true
	lt := claimAs(t, b, tr).Leases[0]
	if lt.Ref != a2 || lt.Seq != 0 {
		t.Fatalf("transferable claim: %v seq %d, want a 2 seq 0", lt.Ref, lt.Seq)
	}
	if err := b.Complete(ctx(t), lt, "exit 0", nil); err != nil {
		t.Fatalf("complete under a transferable lease: %v", err)
	}
	checkHistory(t, b, a2, since)
	lt = claimAs(t, b, tr).Leases[0]
	la := acquire(t, b, a3, "w3", longLease)
	if lt.Ref != a3 || la.Seq != 1 {
		t.Fatalf("acquire of a transferable lease: seq %d, want 1", la.Seq)
	}

	// Park that does not run the job gives its number back.
	submit(t, b, item("p", "1", 1))
	lp := claimOne(t, b, "p", longLease)
	if res, err := parkNodes(ctx(t), b, lp, []store.Node{node("a", "9")}); err != nil || res.Ready {
		t.Fatalf("park: %+v, %v; want not ready", res, err)
	}
	submit(t, b, store.SubmitItem{Node: node("p", "1"), Priority: 1, Readd: true})
	if lp = claimOne(t, b, "p", longLease); lp.Ref != p || lp.Seq != 1 {
		t.Fatalf("claim after park: %v seq %d, want p 1 seq 1", lp.Ref, lp.Seq)
	}
	checkHistory(t, b, p, since)
}

func getHistory(t *testing.T, b store.Backend, r store.Ref) []store.Attempt {
	t.Helper()
	hs, err := b.History(ctx(t), []store.Ref{r})
	if err != nil || len(hs) != 1 {
		t.Fatalf("history %v: %v, %v", r, hs, err)
	}
	return hs[0]
}

// testHistoryRing: a job keeps its last store.DefaultKeep attempts; the
// window of an app finds the attempts that ended in it, and no more than
// are kept.
func (s suite) testHistoryRing(t *testing.T) {
	b, _ := s.open(t)
	since := time.Now()
	r := ref("r", "1")
	n := store.DefaultKeep + 3
	var mid time.Time
	for i := 1; i <= n; i++ {
		l := acquire(t, b, r, "w1", longLease)
		if l.Seq != int64(i) {
			t.Fatalf("attempt %d: seq %d", i, l.Seq)
		}
		fail(t, b, withLog(l), fmt.Sprintf("exit %d", i), 1000, 0)
		if i == n-2 {
			waitPast(t, time.Now()) // attempts n-1 and n end after mid
			mid = time.Now()
			waitPast(t, mid)
		}
	}
	var want []brief
	for i := n - store.DefaultKeep + 1; i <= n; i++ {
		want = append(want, brief{int64(i), "w1", fmt.Sprintf("exit %d", i), logOf(r, int64(i))})
	}
	checkHistory(t, b, r, since, want...)

	// Another app, and a job of this one, in the window.
	l := acquire(t, b, ref("other", "1"), "w1", longLease)
	complete(t, b, withLog(l))
	l = acquire(t, b, ref("r", "2"), "w2", longLease)
	complete(t, b, withLog(l))
	window := func(from, until time.Time) []string {
		var got []string
		err := b.AppHistory(ctx(t), "r", from, until, func(a store.Attempt) error {
			if a.App != "r" || a.End.Before(from) || (!until.IsZero() && !a.End.Before(until)) {
				t.Errorf("window %v..%v: attempt %+v", from, until, a)
			}
			got = append(got, fmt.Sprintf("%s/%d", a.JobID, a.Seq))
			return nil
		})
		if err != nil {
			t.Fatalf("app history: %v", err)
		}
		sort.Strings(got)
		return got
	}
	var all []string
	for i := n - store.DefaultKeep + 1; i <= n; i++ {
		all = append(all, fmt.Sprintf("1/%d", i))
	}
	all = append(all, "2/1")
	sort.Strings(all)
	if got := window(since, time.Time{}); !reflect.DeepEqual(got, all) {
		t.Fatalf("window from the start: %v, want %v", got, all)
	}
	want2 := []string{fmt.Sprintf("1/%d", n-1), fmt.Sprintf("1/%d", n), "2/1"}
	sort.Strings(want2)
	if got := window(mid, time.Time{}); !reflect.DeepEqual(got, want2) {
		t.Fatalf("window from the middle: %v, want %v", got, want2)
	}
	if got := window(since, mid); len(got) != store.DefaultKeep-2 || strings.Contains(strings.Join(got, " "), "2/1") {
		t.Fatalf("window to the middle: %v, want %d attempts of job 1", got, store.DefaultKeep-2)
	}
	if got := window(time.Now().Add(time.Hour), time.Time{}); len(got) != 0 {
		t.Fatalf("window in the future: %v", got)
	}
	// Times past what Unix nanoseconds hold (years 1678 to 2262).
	if got := window(time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}); len(got) != 0 {
		t.Fatalf("window from 2999: %v", got)
	}
	if got := window(time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1001, 1, 1, 0, 0, 0, 0, time.UTC)); len(got) != 0 {
		t.Fatalf("window in the year 1000: %v", got)
	}
	if got := window(time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)); !reflect.DeepEqual(got, all) {
		t.Fatalf("window from 1000 to 2999: %v, want %v", got, all)
	}
}
