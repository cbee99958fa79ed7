package redis

import (
	"context"
	"fmt"
	"strconv"

	"github.com/stolos-sched/stolos/lib/store"
)

// Heads reads the head of each app's queue (see store.Backend): one
// script (head, in claimFuncs; a claim across apps reads them in its own).
func (b *Backend) Heads(ctx context.Context, apps []string) ([]store.Head, error) {
	args := make([]any, len(apps))
	for i, a := range apps {
		args[i] = a
	}
	r, err := b.run(ctx, b.s.heads, store.Ref{}, args...)
	if err != nil {
		return nil, fmt.Errorf("heads: %w", err)
	}
	v, _ := r.([]any)
	if len(v) != len(apps) {
		return nil, fmt.Errorf("redis %s: heads: bad reply", b.addr)
	}
	out := make([]store.Head, len(apps))
	for i, x := range v {
		s := toStr(x)
		if s == "" {
			continue
		}
		p, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("redis %s: heads: bad priority %q", b.addr, s)
		}
		out[i] = store.Head{Ready: true, Priority: p}
	}
	return out, nil
}
