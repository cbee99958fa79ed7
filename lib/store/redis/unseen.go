package redis

import (
	"context"
	"fmt"
	"strconv"

	"github.com/stolos-sched/stolos/lib/store"
)

// Unseen reads child's fan-in record, the hash K.."f:"..id (see
// store.FanInReader): one HKEYS. A record being built has the field "b".
func (b *Backend) Unseen(ctx context.Context, child store.Ref, parents []store.Ref) ([]store.Ref, bool, error) {
	key := b.prefix + strconv.Itoa(len(child.App)) + ":" + child.App + ":f:" + child.JobID
	fields, err := b.c.HKeys(ctx, key).Result()
	if err != nil {
		return nil, false, fmt.Errorf("redis %s: unseen %v: %v", b.addr, child, err)
	}
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		seen[f] = true
	}
	if !seen["#"] || seen["b"] {
		return nil, false, nil
	}
	return store.NotSeen(parents, seen), true, nil
}
