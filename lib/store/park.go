package store

import "context"

// ParkStepper is a backend that parks a wide child in bounded steps
// (ParkInSteps): one whose atomic step must stay small (a ZooKeeper
// multi-op under its request limit, a Redis script of a few
// milliseconds).
type ParkStepper interface {
	// Get reads jobs, in steps of its own if it needs them.
	Get(ctx context.Context, refs []Ref) ([]Job, error)
	// ParkStep is one atomic step of Park. With keep false it is Park.
	// With keep true it only queues above as Park would (creating the
	// absent ones), if l is held, and reports Ready false: the child keeps
	// its lease and its queue entry.
	ParkStep(ctx context.Context, l Lease, parents []Ref, above []Node, keep bool) (ParkResult, error)
}

// ParkInSteps is Park of a child with many parents or ancestors above, in
// steps of at most Batch jobs each. It reads the parents (not
// atomically: a Get); if all are completed the child is Ready (once a
// step checked its lease). Else it queues above, all but its last Batch
// in steps that keep the child, and the last step parks the child on one
// parent that is not completed, with the rest of above. That one parent
// is enough to keep the child's wake-up: the last step is atomic with
// its state, so either the step sees it completed (and the child is not
// parked on it: ParkInSteps tries the next one, reading the parents again
// when it runs out), or its completion comes after the step and finds the
// child pending and not queued, as the completion of a child's last
// parent needs. A process that dies between two steps leaves ancestors
// queued and the child claimed: its lease ends, the child is claimed
// again and parks again, and what is queued already is not queued twice.
func ParkInSteps(ctx context.Context, b ParkStepper, l Lease, parents []Ref, above []Node) (ParkResult, error) {
	jobs, err := b.Get(ctx, parents)
	if err != nil {
		return ParkResult{}, err
	}
	on := nextIncomplete(jobs, 0)
	if on < 0 {
		_, err := b.ParkStep(ctx, l, nil, nil, false) // checks the lease
		return ParkResult{Ready: true, Parents: jobs}, err
	}
	rest := above
	for len(rest) > Batch {
		if _, err := b.ParkStep(ctx, l, nil, rest[:Batch], true); err != nil {
			return ParkResult{}, err
		}
		rest = rest[Batch:]
	}
	seen := jobs
	for {
		res, err := b.ParkStep(ctx, l, []Ref{parents[on]}, rest, false)
		if err != nil {
			return ParkResult{}, err
		}
		if !res.Ready {
			return ParkResult{Parents: jobs}, nil
		}
		// It completed since it was read: park on the next one.
		seen[on] = res.Parents[0]
		if on = nextIncomplete(seen, on+1); on >= 0 {
			continue
		}
		if seen, err = b.Get(ctx, parents); err != nil {
			return ParkResult{}, err
		}
		if on = nextIncomplete(seen, 0); on < 0 {
			_, err := b.ParkStep(ctx, l, nil, nil, false)
			return ParkResult{Ready: true, Parents: seen}, err
		}
	}
}

// nextIncomplete returns the index of the first job from from that is not
// completed, or -1.
func nextIncomplete(jobs []Job, from int) int {
	for i := from; i < len(jobs); i++ {
		if jobs[i].State != Completed {
			return i
		}
	}
	return -1
}
