package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The checks of arguments every backend makes before it changes anything,
// so that bad input changes nothing (a Lua script or a transaction that
// fails halfway could keep what it wrote).

// CheckApp rejects an app name stolos cannot store.
func CheckApp(app string) error {
	if app == "" {
		return errors.New("empty app name")
	}
	if strings.ContainsAny(app, "\n\t") {
		return fmt.Errorf("app name %q holds a newline or tab", app)
	}
	return nil
}

// CheckRef rejects a ref with an empty or unstorable app or job id.
func CheckRef(r Ref) error {
	if err := CheckApp(r.App); err != nil {
		return fmt.Errorf("%w (job id %q)", err, r.JobID)
	}
	if r.JobID == "" {
		return fmt.Errorf("empty job id (app %q)", r.App)
	}
	if strings.ContainsAny(r.JobID, "\n\t") {
		return fmt.Errorf("job id %q of app %q holds a newline or tab", r.JobID, r.App)
	}
	return nil
}

// CheckRefs checks every ref.
func CheckRefs(refs []Ref) error {
	for _, r := range refs {
		if err := CheckRef(r); err != nil {
			return err
		}
	}
	return nil
}

// CheckPositive rejects a duration that is not positive.
func CheckPositive(what string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s %v is not positive", what, d)
	}
	return nil
}

// CheckSubmit checks the refs of submit items and of their resets.
func CheckSubmit(items []SubmitItem) error {
	for _, it := range items {
		if err := CheckRef(it.Ref); err != nil {
			return err
		}
		if err := CheckRefs(it.Reset); err != nil {
			return fmt.Errorf("reset of %v: %w", it.Ref, err)
		}
	}
	return nil
}

// CheckClaim checks a claim request.
func CheckClaim(req ClaimRequest) error {
	switch {
	case req.App == "":
		return errors.New("claim: empty app name")
	case req.Owner == "":
		return fmt.Errorf("claim %s: empty owner", req.App)
	case req.N < 1:
		return fmt.Errorf("claim %s: n %d is less than 1", req.App, req.N)
	}
	if err := CheckPositive("lease", req.Lease); err != nil {
		return fmt.Errorf("claim %s: %w", req.App, err)
	}
	return nil
}

// CheckChildren checks children (their parents are checked when a backend
// computes them, with ChildParents).
func CheckChildren(children []Child) error {
	for _, c := range children {
		if err := CheckRef(c.Ref); err != nil {
			return fmt.Errorf("child: %w", err)
		}
		if c.Parents == nil {
			return fmt.Errorf("child %v: no parents function", c.Ref)
		}
	}
	return nil
}

// ChildParents computes and checks the parents of a child.
func ChildParents(c Child) ([]Ref, error) {
	ps := c.Parents()
	if err := CheckRefs(ps); err != nil {
		return nil, fmt.Errorf("parent of %v: %w", c.Ref, err)
	}
	return ps, nil
}

// CheckNodes checks the refs of nodes.
func CheckNodes(nodes []Node) error {
	for _, n := range nodes {
		if err := CheckRef(n.Ref); err != nil {
			return err
		}
	}
	return nil
}

// CheckFail checks the arguments of Fail.
func CheckFail(maxRetry int, delay time.Duration) error {
	if maxRetry < 0 {
		return errors.New("max retry " + strconv.Itoa(maxRetry) + " is negative")
	}
	if delay < 0 {
		return fmt.Errorf("retry delay %v is negative", delay)
	}
	return nil
}

// CheckSetState allows the states SetState may set: completed goes through
// Complete, for bubble-down.
func CheckSetState(st State) error {
	if _, err := ParseState(string(st)); err != nil {
		return err
	}
	if st == Completed {
		return errors.New("state completed is set by Complete, which queues the children")
	}
	return nil
}

// CheckComplete checks the arguments of Complete.
func CheckComplete(l Lease, children []Child) error {
	if err := CheckRef(l.Ref); err != nil {
		return fmt.Errorf("complete: %w", err)
	}
	if err := CheckChildren(children); err != nil {
		return fmt.Errorf("complete %v: %w", l.Ref, err)
	}
	return nil
}

// CheckCompleteClaim checks the arguments of CompleteClaim. When those of
// one part are bad, it does the other part alone on b, as CompleteClaim
// must, and returns CompleteClaim's answer with handled true.
func CheckCompleteClaim(ctx context.Context, b Backend, l Lease, outcome string, children []Child, req ClaimRequest) (res ClaimResult, done, err error, handled bool) {
	if err := CheckClaim(req); err != nil {
		return ClaimResult{}, b.Complete(ctx, l, outcome, children), err, true
	}
	if err := CheckComplete(l, children); err != nil {
		res, cerr := b.Claim(ctx, req)
		return res, err, cerr, true
	}
	return ClaimResult{}, nil, nil, false
}
