package storetest

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// waitResult runs b.Wait in a goroutine and returns a channel with its error.
func waitResult(ctx context.Context, b store.Backend, app string, until time.Time) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- b.Wait(ctx, app, until) }()
	return ch
}

// waited fails the test unless ch yields within the deadline, and returns
// what it yields.
func waited(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(deadline):
		t.Fatalf("%s: wait did not return after %v", what, deadline)
		return nil
	}
}

// testWait: Wait returns when another instance submits work, when its
// until passes, and when its context ends.
func (s suite) testWait(t *testing.T) {
	b1, spec := s.open(t)
	b2 := s.openSpec(t, spec)
	far := time.Now().Add(time.Hour)

	t.Run("until", func(t *testing.T) {
		until := time.Now().Add(100 * time.Millisecond)
		if err := waited(t, "wait until", waitResult(ctx(t), b1, "q", until)); err != nil {
			t.Fatalf("wait until: %v", err)
		}
	})
	t.Run("context", func(t *testing.T) {
		c, cancel := context.WithCancel(ctx(t))
		ch := waitResult(c, b1, "q", far)
		cancel()
		if err := waited(t, "wait cancelled", ch); !errors.Is(err, context.Canceled) {
			t.Fatalf("wait cancelled: %v, want %v", err, context.Canceled)
		}
	})
	// A worker waits after a claim found nothing, as stolos-claim -wait
	// does; the wait may begin before or after the submit.
	t.Run("submit", func(t *testing.T) {
		if r := claim(t, b1, "q", 1, longLease); len(r.Leases) != 0 {
			t.Fatalf("claim: %v", ids(r.Leases))
		}
		ch := waitResult(ctx(t), b1, "q", far)
		submit(t, b2, item("q", "1", 100))
		if err := waited(t, "wait for submit", ch); err != nil {
			t.Fatalf("wait for submit: %v", err)
		}
	})
	// A worker claims nothing, another instance queues work, and only then
	// the worker waits: the wait must not miss that work (no lost wake-up).
	t.Run("no lost wake-up", func(t *testing.T) {
		submit(t, b1, item("r", "1", 100))
		complete(t, b1, claimOne(t, b1, "r", longLease))
		if r := claim(t, b1, "r", 1, longLease); len(r.Leases) != 0 {
			t.Fatalf("claim: %v", ids(r.Leases))
		}
		submit(t, b2, item("r", "2", 100))
		if err := waited(t, "wait after missed submit", waitResult(ctx(t), b1, "r", far)); err != nil {
			t.Fatalf("wait after missed submit: %v", err)
		}
	})
	// A job made claimable by bubble-down in another instance wakes a waiter.
	t.Run("bubble-down", func(t *testing.T) {
		submit(t, b1, item("p", "1", 100))
		if r := claim(t, b1, "c", 1, longLease); len(r.Leases) != 0 {
			t.Fatalf("claim: %v", ids(r.Leases))
		}
		ch := waitResult(ctx(t), b1, "c", far)
		completeRef(t, b2, ref("p", "1"), child(ref("c", "1"), ref("p", "1")))
		if err := waited(t, "wait for bubble-down", ch); err != nil {
			t.Fatalf("wait for bubble-down: %v", err)
		}
	})
}

// testBadInput: calls with malformed arguments return an error and change
// nothing, even when part of a batch is well formed.
func (s suite) testBadInput(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("a", "1", 100), item("a", "2", 100))
	l := claimOne(t, b, "a", longLease)
	before := snapshot(t, b, "a", "b", "")
	c := ctx(t)
	future := time.Now().Add(time.Minute)
	bad := map[string]error{}
	_, bad["submit empty app"] = b.Submit(c, []store.SubmitItem{item("b", "1", 1), item("", "1", 1)})
	_, bad["submit empty job id"] = b.Submit(c, []store.SubmitItem{item("b", "1", 1), item("b", "", 1)})
	_, bad["submit reset empty"] = b.Submit(c, []store.SubmitItem{{Node: node("b", "1"), Readd: true, Reset: []store.Ref{ref("a", "")}}})
	_, bad["claim empty app"] = b.Claim(c, claimReq("", "w", 1, longLease))
	_, bad["claim n 0"] = b.Claim(c, claimReq("a", "w", 0, longLease))
	_, bad["claim n -1"] = b.Claim(c, claimReq("a", "w", -1, longLease))
	_, bad["claim lease 0"] = b.Claim(c, claimReq("a", "w", 1, 0))
	_, bad["claim empty owner"] = b.Claim(c, claimReq("a", "", 1, longLease))
	_, bad["acquire empty app"] = b.Acquire(c, ref("", "1"), "w", longLease)
	_, bad["acquire empty job id"] = b.Acquire(c, ref("b", ""), "w", longLease)
	_, bad["acquire empty owner"] = b.Acquire(c, ref("b", "1"), "", longLease)
	_, bad["acquire lease 0"] = b.Acquire(c, ref("b", "1"), "w", 0)
	_, bad["renew 0"] = b.Renew(c, l, 0)
	_, bad["renew -1s"] = b.Renew(c, l, -time.Second)
	bad["complete empty child"] = b.Complete(c, l, "exit 0", []store.Child{child(ref("b", ""), l.Ref)})
	bad["complete empty parent"] = b.Complete(c, l, "exit 0", []store.Child{child(ref("b", "1"), ref("", "1"))})
	_, bad["fail negative retries"] = b.Fail(c, l, "exit 1", -1, 0)
	_, bad["fail negative delay"] = b.Fail(c, l, "exit 1", 3, -time.Second)
	_, bad["park empty parent"] = parkNodes(c, b, l, []store.Node{node("b", "1"), node("b", "")})
	bad["set state absent"] = b.SetState(c, ref("a", "2"), store.Absent, "")
	bad["set state completed"] = b.SetState(c, ref("a", "2"), store.Completed, "")
	bad["set state bogus"] = b.SetState(c, ref("a", "2"), "bogus", "")
	bad["set state empty app"] = b.SetState(c, ref("", "2"), store.Failed, "")
	_, bad["get empty app"] = b.Get(c, []store.Ref{ref("a", "1"), ref("", "1")})
	bad["list empty app"] = b.List(c, "", store.Absent, func(store.Job) error { return nil })
	bad["list bogus state"] = b.List(c, "a", "bogus", func(store.Job) error { return nil })
	_, bad["count empty app"] = b.Count(c, "")
	bad["wait empty app"] = b.Wait(c, "", future)
	names := make([]string, 0, len(bad))
	for name := range bad {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if bad[name] == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if after := snapshot(t, b, "a", "b", ""); !reflect.DeepEqual(after, before) {
		t.Fatalf("bad input changed state:\n%v\nwant\n%v", after, before)
	}
	complete(t, b, l) // the lease survived
}

// snapshot lists every job of the apps, sorted, with the apps' counts.
func snapshot(t *testing.T, b store.Backend, apps ...string) []any {
	t.Helper()
	var out []any
	for _, app := range apps {
		if app == "" {
			continue
		}
		var jobs []store.Job
		err := b.List(ctx(t), app, store.Absent, func(j store.Job) error {
			jobs = append(jobs, j)
			return nil
		})
		if err != nil {
			t.Fatalf("list %s: %v", app, err)
		}
		sort.Slice(jobs, func(i, j int) bool { return jobs[i].JobID < jobs[j].JobID })
		c, err := b.Count(ctx(t), app)
		if err != nil {
			t.Fatalf("count %s: %v", app, err)
		}
		out = append(out, jobs, c)
	}
	return out
}
