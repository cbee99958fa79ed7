package local

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Heads reads the head of each app's queue (see store.Backend), in one
// read transaction: the first claimable entry by the index of the queue,
// else the best of the first 100 entries whose lease or retry delay has
// ended (Claim makes those claimable first).
func (b *Backend) Heads(ctx context.Context, apps []string) ([]store.Head, error) {
	tx, err := b.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("heads: %w", err)
	}
	defer tx.Rollback()
	s, err := tx.PrepareContext(ctx, "SELECT "+
		"(SELECT min(priority) FROM jobs WHERE app = ?1 AND queued = 1 AND wake = 0), "+
		"(SELECT min(priority) FROM (SELECT priority FROM jobs WHERE app = ?1 AND queued = 1 AND wake > 0 AND wake <= ?2 LIMIT 100))")
	if err != nil {
		return nil, fmt.Errorf("heads: %w", err)
	}
	defer s.Close()
	now := time.Now().UnixNano()
	out := make([]store.Head, len(apps))
	for i, app := range apps {
		var ready, woken sql.NullInt64
		if err := s.QueryRowContext(ctx, app, now).Scan(&ready, &woken); err != nil {
			return nil, fmt.Errorf("heads %s: %w", app, err)
		}
		for _, p := range []sql.NullInt64{ready, woken} {
			if p.Valid && (!out[i].Ready || int(p.Int64) < out[i].Priority) {
				out[i] = store.Head{Ready: true, Priority: int(p.Int64)}
			}
		}
	}
	return out, nil
}
