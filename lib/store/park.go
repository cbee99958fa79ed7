package store

import "context"

// ParkStepper is a backend that parks a wide child in bounded steps
// (ParkInSteps): one whose atomic step must stay small (a ZooKeeper
// multi-op under its request limit, a Redis script of a few
// milliseconds).
type ParkStepper interface {
	// Get reads jobs, in steps of its own if it needs them.
	Get(ctx context.Context, refs []Ref) ([]Job, error)
	// QueueAbove queues nodes as Park queues above (creating the absent
	// ones), if l is held, in one atomic step: the child keeps its lease
	// and its queue entry. It returns how many of nodes, from the first,
	// it handled: at least one, fewer than all when a step stops early to
	// stay small.
	QueueAbove(ctx context.Context, l Lease, nodes []Node) (int, error)
	// ParkStep is Park in one atomic step.
	ParkStep(ctx context.Context, l Lease, parents []Ref, above []Node) (ParkResult, error)
}

// ParkInSteps is Park of a child with many parents or ancestors above, in
// steps of at most Batch jobs each. It reads the parents (not
// atomically: a Get); if all are completed the child is Ready (once a
// step checked its lease). Else it queues above in steps of at most Batch
// jobs that keep the child, and the last step parks the child on one
// parent that is not completed. That one parent
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
		_, err := b.ParkStep(ctx, l, nil, nil) // checks the lease
		return ParkResult{Ready: true, Parents: jobs}, err
	}
	for rest := above; len(rest) > 0; {
		k, err := b.QueueAbove(ctx, l, rest[:min(Batch, len(rest))])
		if err != nil {
			return ParkResult{}, err
		}
		rest = rest[max(k, 1):]
	}
	seen := jobs
	for {
		res, err := b.ParkStep(ctx, l, []Ref{parents[on]}, nil)
		if err != nil {
			return ParkResult{}, err
		}
		if !res.Ready {
			return ParkResult{Parents: seen}, nil
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
			_, err := b.ParkStep(ctx, l, nil, nil)
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
