package redis

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// The checks of arguments, made before a script runs so that bad input
// changes nothing (a Lua script that fails halfway keeps what it wrote).

func checkApp(app string) error {
	if app == "" {
		return errors.New("empty app name")
	}
	return nil
}

func checkRef(r store.Ref) error {
	if err := checkApp(r.App); err != nil {
		return fmt.Errorf("%w (job id %q)", err, r.JobID)
	}
	if r.JobID == "" {
		return fmt.Errorf("empty job id (app %q)", r.App)
	}
	return nil
}

func checkRefs(refs []store.Ref) error {
	for _, r := range refs {
		if err := checkRef(r); err != nil {
			return err
		}
	}
	return nil
}

func checkPositive(what string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s %v is not positive", what, d)
	}
	return nil
}

func checkSubmit(items []store.SubmitItem) error {
	for _, it := range items {
		if err := checkRef(it.Ref); err != nil {
			return err
		}
		if err := checkRefs(it.Reset); err != nil {
			return fmt.Errorf("reset of %v: %w", it.Ref, err)
		}
	}
	return nil
}

func checkClaim(req store.ClaimRequest) error {
	switch {
	case req.App == "":
		return errors.New("claim: empty app name")
	case req.Owner == "":
		return fmt.Errorf("claim %s: empty owner", req.App)
	case req.N < 1:
		return fmt.Errorf("claim %s: n %d is less than 1", req.App, req.N)
	}
	if err := checkPositive("lease", req.Lease); err != nil {
		return fmt.Errorf("claim %s: %w", req.App, err)
	}
	return nil
}

func checkChildren(children []store.Child) error {
	for _, c := range children {
		if err := checkRef(c.Ref); err != nil {
			return fmt.Errorf("child: %w", err)
		}
		if err := checkRefs(c.Parents); err != nil {
			return fmt.Errorf("parent of %v: %w", c.Ref, err)
		}
	}
	return nil
}

func checkNodes(nodes []store.Node) error {
	for _, n := range nodes {
		if err := checkRef(n.Ref); err != nil {
			return err
		}
	}
	return nil
}

func checkFail(maxRetry int, delay time.Duration) error {
	if maxRetry < 0 {
		return errors.New("max retry " + strconv.Itoa(maxRetry) + " is negative")
	}
	if delay < 0 {
		return fmt.Errorf("retry delay %v is negative", delay)
	}
	return nil
}

// checkSetState allows the states SetState may set: completed goes through
// Complete, for bubble-down.
func checkSetState(st store.State) error {
	if _, err := store.ParseState(string(st)); err != nil {
		return err
	}
	if st == store.Completed {
		return errors.New("state completed is set by Complete, which queues the children")
	}
	return nil
}
