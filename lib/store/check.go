package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The checks of arguments, made once for every backend by Checked before
// the backend changes anything, so that bad input changes nothing (a Lua
// script or a transaction that fails halfway could keep what it wrote).
// Every message names the operation and the input it refuses.

// ErrInvalid is what every error of Checked's argument checks wraps: the
// call was refused before it reached the backend.
var ErrInvalid = errors.New("invalid argument")

// invalid is a refused argument: its message is err's, and it is both
// err (for errors.Is and errors.As) and ErrInvalid.
type invalid struct{ err error }

func (e *invalid) Error() string   { return e.err.Error() }
func (e *invalid) Unwrap() []error { return []error{e.err, ErrInvalid} }

// invalidf makes an ErrInvalid with a message formatted as by fmt.Errorf.
func invalidf(format string, args ...any) error {
	return &invalid{fmt.Errorf(format, args...)}
}

// checkApp rejects an app name stolos cannot store.
func checkApp(app string) error {
	if app == "" {
		return invalidf("empty app name")
	}
	if strings.ContainsAny(app, "\n\t") {
		return invalidf("app name %q holds a newline or tab", app)
	}
	return nil
}

// CheckRef rejects a ref with an empty or unstorable app or job id.
func CheckRef(r Ref) error {
	if err := checkApp(r.App); err != nil {
		return invalidf("%w (job id %q)", err, r.JobID)
	}
	if r.JobID == "" {
		return invalidf("empty job id (app %q)", r.App)
	}
	if strings.ContainsAny(r.JobID, "\n\t") {
		return invalidf("job id %q of app %q holds a newline or tab", r.JobID, r.App)
	}
	return nil
}

// checkRefs checks every ref.
func checkRefs(refs []Ref) error {
	for _, r := range refs {
		if err := CheckRef(r); err != nil {
			return err
		}
	}
	return nil
}

// checkPositive rejects a duration that is not positive.
func checkPositive(what string, d time.Duration) error {
	if d <= 0 {
		return invalidf("%s %v is not positive", what, d)
	}
	return nil
}

// checkSubmit checks the refs of submit items and of their resets.
func checkSubmit(items []SubmitItem) error {
	for _, it := range items {
		if err := CheckRef(it.Ref); err != nil {
			return invalidf("submit: %w", err)
		}
		if err := checkRefs(it.Reset); err != nil {
			return invalidf("submit %v: reset: %w", it.Ref, err)
		}
	}
	return nil
}

// checkClaim checks a claim request.
func checkClaim(req ClaimRequest) error {
	if len(req.Apps) > 0 {
		return checkClaimApps(req)
	}
	if err := checkApp(req.App); err != nil {
		return invalidf("claim: %w", err)
	}
	switch {
	case req.Owner == "":
		return invalidf("claim %s: empty owner", req.App)
	case req.N < 1:
		return invalidf("claim %s: n %d is less than 1", req.App, req.N)
	}
	if err := checkPositive("lease", req.Lease); err != nil {
		return invalidf("claim %s: %w", req.App, err)
	}
	if err := checkLimits(req.App, req.Limits); err != nil {
		return invalidf("claim %s: %w", req.App, err)
	}
	return nil
}

// checkClaimApps checks a claim across apps: each app's claim, and that
// the request leaves App, MaxRetry and Limits to them.
func checkClaimApps(req ClaimRequest) error {
	if req.App != "" || req.MaxRetry != 0 || req.Limits != nil {
		return invalidf("claim across apps: app %q, max retry %d or limits given beside the apps", req.App, req.MaxRetry)
	}
	for i := range req.Apps {
		if err := checkClaim(req.For(i)); err != nil {
			return err
		}
	}
	return nil
}

// checkLease checks the ref of a lease that op names.
func checkLease(op string, l Lease) error {
	if err := CheckRef(l.Ref); err != nil {
		return invalidf("%s: %w", op, err)
	}
	return nil
}

// checkComplete checks the arguments of Complete, and of Resume (op) of
// the parent l.Ref.
func checkComplete(op string, l Lease, children []Child) error {
	if err := checkLease(op, l); err != nil {
		return err
	}
	for _, c := range children {
		if err := CheckRef(c.Ref); err != nil {
			return invalidf("%s %v: child: %w", op, l.Ref, err)
		}
		if c.Parents == nil {
			return invalidf("%s %v: child %v: no parents function", op, l.Ref, c.Ref)
		}
	}
	return nil
}

// ChildParents computes and checks the parents of a child. A backend calls
// it when it needs them (Child.Parents): Checked cannot check them before,
// as computing them is what Child.Parents defers.
func ChildParents(c Child) ([]Ref, error) {
	ps := c.Parents()
	if err := checkRefs(ps); err != nil {
		return nil, invalidf("parent of %v: %w", c.Ref, err)
	}
	return ps, nil
}

// checkSetState allows the states SetState may set: completed goes through
// Complete, for bubble-down.
func checkSetState(st State) error {
	if _, err := ParseState(string(st)); err != nil {
		return err
	}
	if st == Completed {
		return errors.New("state completed is set by Complete, which queues the children")
	}
	return nil
}

// Checked returns b with every argument checked before b sees it: a call
// with a bad argument fails with an error that wraps ErrInvalid, names the
// operation and the input, and changes nothing. Backends check nothing of
// their own; they are opened through Checked (lib/backend, the
// conformance suite). Checked keeps b's CompleteClaim, if it has one.
func Checked(b Backend) Backend {
	switch b.(type) {
	case checked, checkedCC:
		return b
	}
	if cc, ok := b.(CompleteClaimer); ok {
		return checkedCC{checked{b}, cc}
	}
	return checked{b}
}

// checked is Checked of a backend without CompleteClaim.
type checked struct{ b Backend }

// checkedCC is Checked of a backend with CompleteClaim.
type checkedCC struct {
	checked
	cc CompleteClaimer
}

func (c checked) Submit(ctx context.Context, items []SubmitItem) ([]SubmitResult, error) {
	if err := checkSubmit(items); err != nil {
		return nil, err
	}
	return c.b.Submit(ctx, items)
}

func (c checked) Claim(ctx context.Context, req ClaimRequest) (ClaimResult, error) {
	if err := checkClaim(req); err != nil {
		return ClaimResult{}, err
	}
	return c.b.Claim(ctx, req)
}

func (c checked) Acquire(ctx context.Context, ref Ref, owner string, lease time.Duration) (Lease, error) {
	if err := CheckRef(ref); err != nil {
		return Lease{}, invalidf("acquire: %w", err)
	}
	if owner == "" {
		return Lease{}, invalidf("acquire %v: empty owner", ref)
	}
	if err := checkPositive("lease", lease); err != nil {
		return Lease{}, invalidf("acquire %v: %w", ref, err)
	}
	return c.b.Acquire(ctx, ref, owner, lease)
}

func (c checked) Renew(ctx context.Context, l Lease, d time.Duration) (Lease, error) {
	if err := checkLease("renew", l); err != nil {
		return Lease{}, err
	}
	if err := checkPositive("lease", d); err != nil {
		return Lease{}, invalidf("renew %v: %w", l.Ref, err)
	}
	return c.b.Renew(ctx, l, d)
}

func (c checked) Release(ctx context.Context, l Lease) error {
	if err := checkLease("release", l); err != nil {
		return err
	}
	return c.b.Release(ctx, l)
}

func (c checked) Held(ctx context.Context, l Lease) error {
	if err := checkLease("held", l); err != nil {
		return err
	}
	return c.b.Held(ctx, l)
}

func (c checked) Complete(ctx context.Context, l Lease, outcome string, children []Child) error {
	if err := checkComplete("complete", l, children); err != nil {
		return err
	}
	return c.b.Complete(ctx, l, outcome, children)
}

func (c checked) Unfinished(ctx context.Context, idle time.Duration, n int) ([]Marker, error) {
	if n < 1 {
		return nil, invalidf("unfinished: n %d is less than 1", n)
	}
	return c.b.Unfinished(ctx, idle, n)
}

func (c checked) Resume(ctx context.Context, parent Ref, children []Child) error {
	if err := checkComplete("resume", Lease{Ref: parent}, children); err != nil {
		return err
	}
	return c.b.Resume(ctx, parent, children)
}

func (c checked) ResumeReadd(ctx context.Context, job Ref, reset []Ref) error {
	if err := CheckRef(job); err != nil {
		return invalidf("resume readd: %w", err)
	}
	if err := checkRefs(reset); err != nil {
		return invalidf("resume readd %v: reset: %w", job, err)
	}
	return c.b.ResumeReadd(ctx, job, reset)
}

func (c checked) Fail(ctx context.Context, l Lease, outcome string, maxRetry int, delay time.Duration) (bool, error) {
	if err := checkLease("fail", l); err != nil {
		return false, err
	}
	if maxRetry < 0 {
		return false, invalidf("fail %v: max retry %d is negative", l.Ref, maxRetry)
	}
	if delay < 0 {
		return false, invalidf("fail %v: retry delay %v is negative", l.Ref, delay)
	}
	return c.b.Fail(ctx, l, outcome, maxRetry, delay)
}

func (c checked) Defer(ctx context.Context, l Lease, outcome string, delay time.Duration) error {
	if err := checkLease("defer", l); err != nil {
		return err
	}
	if delay < 0 {
		return invalidf("defer %v: delay %v is negative", l.Ref, delay)
	}
	return c.b.Defer(ctx, l, outcome, delay)
}

func (c checked) Park(ctx context.Context, l Lease, parents []Ref, above []Node) (ParkResult, error) {
	if err := checkLease("park", l); err != nil {
		return ParkResult{}, err
	}
	if err := checkRefs(parents); err != nil {
		return ParkResult{}, invalidf("park %v: parent: %w", l.Ref, err)
	}
	for _, n := range above {
		if err := CheckRef(n.Ref); err != nil {
			return ParkResult{}, invalidf("park %v: ancestor: %w", l.Ref, err)
		}
	}
	return c.b.Park(ctx, l, parents, above)
}

func (c checked) SetState(ctx context.Context, ref Ref, st State, outcome string) error {
	if err := CheckRef(ref); err != nil {
		return invalidf("set state: %w", err)
	}
	if err := checkSetState(st); err != nil {
		return invalidf("set state %v: %w", ref, err)
	}
	return c.b.SetState(ctx, ref, st, outcome)
}

func (c checked) Get(ctx context.Context, refs []Ref) ([]Job, error) {
	if err := checkRefs(refs); err != nil {
		return nil, invalidf("get: %w", err)
	}
	return c.b.Get(ctx, refs)
}

func (c checked) List(ctx context.Context, app string, st State, fn func(Job) error) error {
	if err := checkApp(app); err != nil {
		return invalidf("list: %w", err)
	}
	if st != Absent {
		if _, err := ParseState(string(st)); err != nil {
			return invalidf("list %s: %w", app, err)
		}
	}
	return c.b.List(ctx, app, st, fn)
}

func (c checked) Count(ctx context.Context, app string) (Counts, error) {
	if err := checkApp(app); err != nil {
		return Counts{}, invalidf("count: %w", err)
	}
	return c.b.Count(ctx, app)
}

func (c checked) Wait(ctx context.Context, app string, until time.Time) error {
	if err := checkApp(app); err != nil {
		return invalidf("wait: %w", err)
	}
	return c.b.Wait(ctx, app, until)
}

// Unseen is Unseen of the backend, checked; every checked backend is a
// FanInReader, whose answer is ok false when the backend is not one.
func (c checked) Unseen(ctx context.Context, child Ref, parents []Ref) ([]Ref, bool, error) {
	if err := checkRefs(append([]Ref{child}, parents...)); err != nil {
		return nil, false, invalidf("unseen: %w", err)
	}
	return Unseen(ctx, c.b, child, parents)
}

func (c checked) History(ctx context.Context, refs []Ref) ([][]Attempt, error) {
	if err := checkRefs(refs); err != nil {
		return nil, invalidf("history: %w", err)
	}
	return c.b.History(ctx, refs)
}

func (c checked) AppHistory(ctx context.Context, app string, since, until time.Time, fn func(Attempt) error) error {
	if err := checkApp(app); err != nil {
		return invalidf("history: %w", err)
	}
	return c.b.AppHistory(ctx, app, since, until, fn)
}

func (c checked) Close() error { return c.b.Close() }

// CompleteClaim checks the arguments of each part. When those of one part
// are bad, it does the other part alone, as CompleteClaim must.
func (c checkedCC) CompleteClaim(ctx context.Context, l Lease, outcome string, children []Child, req ClaimRequest) (res ClaimResult, done, err error) {
	if err := checkClaim(req); err != nil {
		return ClaimResult{}, c.Complete(ctx, l, outcome, children), err
	}
	if err := checkComplete("complete", l, children); err != nil {
		res, cerr := c.b.Claim(ctx, req)
		return res, err, cerr
	}
	return c.cc.CompleteClaim(ctx, l, outcome, children, req)
}
