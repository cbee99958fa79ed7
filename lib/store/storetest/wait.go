package storetest

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strings"
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
// until passes, and when its context ends. A zero until is no deadline.
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
	t.Run("past", func(t *testing.T) {
		if err := waited(t, "wait until a past time", waitResult(ctx(t), b1, "q", time.Now().Add(-time.Second))); err != nil {
			t.Fatalf("wait until a past time: %v", err)
		}
	})
	// A Wait that returned at once would return nil, not the context's
	// error; the deadline only bounds a Wait that is right.
	t.Run("zero", func(t *testing.T) {
		c, cancel := context.WithTimeout(ctx(t), 200*time.Millisecond)
		defer cancel()
		if err := waited(t, "wait with a zero until", waitResult(c, b1, "q", time.Time{})); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("wait with a zero until: %v, want %v", err, context.DeadlineExceeded)
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

// testBadInput: calls with malformed arguments return an error that wraps
// store.ErrInvalid, in the one wording of store.Checked, and change
// nothing, even when part of a batch is well formed.
func (s suite) testBadInput(t *testing.T) {
	b, _ := s.open(t)
	submit(t, b, item("a", "1", 100), item("a", "2", 100))
	l := claimOne(t, b, "a", longLease)
	before := snapshot(t, b, "a", "b", "")
	c := ctx(t)
	future := time.Now().Add(time.Minute)
	noLease := store.Lease{Ref: ref("a", "")}
	type badCall struct {
		name string
		err  error
		want string
	}
	second := func(_ any, err error) error { return err }
	for _, bc := range []badCall{
		{"submit empty app", second(b.Submit(c, []store.SubmitItem{item("b", "1", 1), item("", "1", 1)})),
			`submit: empty app name (job id "1")`},
		{"submit empty job id", second(b.Submit(c, []store.SubmitItem{item("b", "1", 1), item("b", "", 1)})),
			`submit: empty job id (app "b")`},
		{"submit tab", second(b.Submit(c, []store.SubmitItem{item("b", "1\t2", 1)})),
			`submit: job id "1\t2" of app "b" holds a newline or tab`},
		{"submit reset empty", second(b.Submit(c, []store.SubmitItem{{Node: node("b", "1"), Readd: true, Reset: []store.Ref{ref("a", "")}}})),
			`submit b 1: reset: empty job id (app "a")`},
		{"claim empty app", second(b.Claim(c, claimReq("", "w", 1, longLease))),
			`claim: empty app name`},
		{"claim newline", second(b.Claim(c, claimReq("a\nb", "w", 1, longLease))),
			`claim: app name "a\nb" holds a newline or tab`},
		{"claim n 0", second(b.Claim(c, claimReq("a", "w", 0, longLease))),
			`claim a: n 0 is less than 1`},
		{"claim n -1", second(b.Claim(c, claimReq("a", "w", -1, longLease))),
			`claim a: n -1 is less than 1`},
		{"claim lease 0", second(b.Claim(c, claimReq("a", "w", 1, 0))),
			`claim a: lease 0s is not positive`},
		{"claim empty owner", second(b.Claim(c, claimReq("a", "", 1, longLease))),
			`claim a: empty owner`},
		{"acquire empty app", second(b.Acquire(c, ref("", "1"), "w", longLease)),
			`acquire: empty app name (job id "1")`},
		{"acquire empty job id", second(b.Acquire(c, ref("b", ""), "w", longLease)),
			`acquire: empty job id (app "b")`},
		{"acquire empty owner", second(b.Acquire(c, ref("b", "1"), "", longLease)),
			`acquire b 1: empty owner`},
		{"acquire lease 0", second(b.Acquire(c, ref("b", "1"), "w", 0)),
			`acquire b 1: lease 0s is not positive`},
		{"renew 0", second(b.Renew(c, l, 0)),
			`renew a 1: lease 0s is not positive`},
		{"renew -1s", second(b.Renew(c, l, -time.Second)),
			`renew a 1: lease -1s is not positive`},
		{"renew empty job id", second(b.Renew(c, noLease, longLease)),
			`renew: empty job id (app "a")`},
		{"release empty job id", b.Release(c, noLease),
			`release: empty job id (app "a")`},
		{"held empty job id", b.Held(c, noLease),
			`held: empty job id (app "a")`},
		{"complete empty job id", b.Complete(c, noLease, "exit 0", nil),
			`complete: empty job id (app "a")`},
		{"complete empty child", b.Complete(c, l, "exit 0", []store.Child{child(ref("b", ""), l.Ref)}),
			`complete a 1: child: empty job id (app "b")`},
		{"complete no parents", b.Complete(c, l, "exit 0", []store.Child{{Node: node("b", "1")}}),
			`complete a 1: child b 1: no parents function`},
		{"unfinished n 0", second(b.Unfinished(c, time.Minute, 0)),
			`unfinished: n 0 is less than 1`},
		{"resume readd empty job id", b.ResumeReadd(c, ref("b", ""), nil),
			`resume readd: empty job id (app "b")`},
		{"resume readd empty reset", b.ResumeReadd(c, ref("b", "1"), []store.Ref{ref("", "2")}),
			`resume readd b 1: reset: empty app name (job id "2")`},
		{"resume empty child", b.Resume(c, l.Ref, []store.Child{child(ref("b", ""), l.Ref)}),
			`resume a 1: child: empty job id (app "b")`},
		{"fail negative retries", second(b.Fail(c, l, "exit 1", -1, 0)),
			`fail a 1: max retry -1 is negative`},
		{"fail negative delay", second(b.Fail(c, l, "exit 1", 3, -time.Second)),
			`fail a 1: retry delay -1s is negative`},
		{"defer negative delay", b.Defer(c, l, "not yet", -time.Second),
			`defer a 1: delay -1s is negative`},
		{"park empty parent", second(b.Park(c, l, []store.Ref{ref("b", "1"), ref("b", "")}, nil)),
			`park a 1: parent: empty job id (app "b")`},
		{"park empty ancestor", second(parkNodes(c, b, l, []store.Node{node("b", "1"), node("b", "")})),
			`park a 1: parent: empty job id (app "b")`},
		{"park empty above", second(b.Park(c, l, []store.Ref{ref("b", "1")}, []store.Node{node("", "1")})),
			`park a 1: ancestor: empty app name (job id "1")`},
		{"set state absent", b.SetState(c, ref("a", "2"), store.Absent, ""),
			`set state a 2: unknown state "" (want pending, completed, failed or skipped)`},
		{"set state completed", b.SetState(c, ref("a", "2"), store.Completed, ""),
			`set state a 2: state completed is set by Complete, which queues the children`},
		{"set state bogus", b.SetState(c, ref("a", "2"), "bogus", ""),
			`set state a 2: unknown state "bogus" (want pending, completed, failed or skipped)`},
		{"set state empty app", b.SetState(c, ref("", "2"), store.Failed, ""),
			`set state: empty app name (job id "2")`},
		{"get empty app", second(b.Get(c, []store.Ref{ref("a", "1"), ref("", "1")})),
			`get: empty app name (job id "1")`},
		{"list empty app", b.List(c, "", store.Absent, func(store.Job) error { return nil }),
			`list: empty app name`},
		{"list bogus state", b.List(c, "a", "bogus", func(store.Job) error { return nil }),
			`list a: unknown state "bogus" (want pending, completed, failed or skipped)`},
		{"count empty app", second(b.Count(c, "")),
			`count: empty app name`},
		{"wait empty app", b.Wait(c, "", future),
			`wait: empty app name`},
		{"history empty job id", second(b.History(c, []store.Ref{ref("a", "1"), ref("a", "")})),
			`history: empty job id (app "a")`},
		{"app history empty app", b.AppHistory(c, "", time.Time{}, time.Time{}, func(store.Attempt) error { return nil }),
			`history: empty app name`},
	} {
		switch {
		case bc.err == nil:
			t.Errorf("%s: no error", bc.name)
		case bc.err.Error() != bc.want:
			t.Errorf("%s: %q, want %q", bc.name, bc.err, bc.want)
		case !errors.Is(bc.err, store.ErrInvalid):
			t.Errorf("%s: %q is not store.ErrInvalid", bc.name, bc.err)
		}
	}
	// A child's parents are checked when the backend computes them
	// (store.ChildParents), under its own context.
	err := b.Complete(c, l, "exit 0", []store.Child{child(ref("b", "1"), ref("", "1"))})
	if want := `parent of b 1: empty app name (job id "1")`; err == nil || !strings.HasSuffix(err.Error(), want) || !errors.Is(err, store.ErrInvalid) {
		t.Errorf("complete empty parent: %v, want an ErrInvalid ending in %q", err, want)
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
		c.HeadAge = 0 // it grows as time passes, with no change
		out = append(out, jobs, c)
	}
	return out
}
