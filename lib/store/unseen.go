package store

import "context"

// FanInReader is a Backend that can read a child's fan-in record (see
// Backend.Complete) cheaply: which of its parents the record has not seen
// completed. Local and Redis are; ZooKeeper, whose record is sharded
// across nodes, is not. Callers go through Unseen.
type FanInReader interface {
	// Unseen returns those of parents (the child's, in the order
	// Child.Parents gives them) that child's fan-in record has not seen
	// completed, in that order, and ok; ok is false, and unseen nil, when
	// the child has no record or one still being built. It changes
	// nothing. The answer is for explanations (why a job waits): a parent
	// seen completed may have been reset since.
	Unseen(ctx context.Context, child Ref, parents []Ref) (unseen []Ref, ok bool, err error)
}

// Unseen is b's Unseen if b is a FanInReader, else ok false.
func Unseen(ctx context.Context, b Backend, child Ref, parents []Ref) ([]Ref, bool, error) {
	if r, ok := b.(FanInReader); ok {
		return r.Unseen(ctx, child, parents)
	}
	return nil, false, nil
}

// NotSeen returns those of refs whose key (app TAB job id) is not in seen,
// in order: the parents a fan-in record has not seen.
func NotSeen(refs []Ref, seen map[string]bool) []Ref {
	var out []Ref
	for _, r := range refs {
		if !seen[r.App+"\t"+r.JobID] {
			out = append(out, r)
		}
	}
	return out
}
