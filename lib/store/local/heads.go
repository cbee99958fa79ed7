package local

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Heads reads the head of each app's queue (see store.Backend), in one
// statement: per app, the first claimable entry by the queue's index,
// else the best of the first 100 entries whose lease or retry delay has
// ended (Claim makes those claimable first).
func (b *Backend) Heads(ctx context.Context, apps []string) ([]store.Head, error) {
	out := make([]store.Head, len(apps))
	if len(apps) == 0 {
		return out, nil
	}
	// One row per app: a VALUES list joined to the two lookups, so that
	// a worker over several apps reads them all in one query.
	var q strings.Builder
	q.WriteString("WITH a(i, app) AS (VALUES ")
	args := make([]any, 0, 2*len(apps)+1)
	for i, app := range apps {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?)")
		args = append(args, i, app)
	}
	q.WriteString(") SELECT i, " +
		"(SELECT priority FROM jobs WHERE jobs.app = a.app AND queued = 1 AND wake = 0 ORDER BY priority, seq LIMIT 1), " +
		"(SELECT min(priority) FROM (SELECT priority FROM jobs WHERE jobs.app = a.app AND queued = 1 AND wake > 0 AND wake <= ? LIMIT 100)) " +
		"FROM a")
	args = append(args, time.Now().UnixNano())
	rs, err := b.r.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("heads: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var i int
		var ready, woken sql.NullInt64
		if err := rs.Scan(&i, &ready, &woken); err != nil {
			return nil, fmt.Errorf("heads: %w", err)
		}
		for _, p := range []sql.NullInt64{ready, woken} {
			if p.Valid && (!out[i].Ready || int(p.Int64) < out[i].Priority) {
				out[i] = store.Head{Ready: true, Priority: int(p.Int64)}
			}
		}
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("heads: %w", err)
	}
	return out, nil
}
