package store

import "sync"

// ParentMemo is a backend's memory of children's parents, so that those
// of a wide child are computed once per process while it has room for
// them (DESIGN.md section 6: ZooKeeper's fan-in records, and the local
// backend's built in steps). It holds up to MaxRemembered refs in all;
// past that, it starts again empty. Its zero value is ready, and it is
// safe for concurrent use.
type ParentMemo struct {
	mu sync.Mutex
	m  map[Ref][]Ref
	n  int // refs held
}

// MaxRemembered bounds a ParentMemo (in refs).
const MaxRemembered = 1_000_000

// Of returns the parents of c: remembered, else c.Parents(), checked
// (ChildParents) and remembered if there are more than least.
func (pm *ParentMemo) Of(c Child, least int) ([]Ref, error) {
	pm.mu.Lock()
	ps, ok := pm.m[c.Ref]
	pm.mu.Unlock()
	if ok {
		return ps, nil
	}
	ps, err := ChildParents(c)
	if err != nil || len(ps) <= least {
		return ps, err
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if pm.m == nil || pm.n+len(ps) > MaxRemembered {
		pm.m, pm.n = map[Ref][]Ref{}, 0
	}
	pm.m[c.Ref] = ps
	pm.n += len(ps)
	return ps, nil
}
