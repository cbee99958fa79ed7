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
// statement (heads).
func (b *Backend) Heads(ctx context.Context, apps []string) ([]store.Head, error) {
	out, err := heads(func(q string, args ...any) (*sql.Rows, error) { return b.r.QueryContext(ctx, q, args...) }, apps, time.Now().UnixNano())
	if err != nil {
		return nil, fmt.Errorf("heads: %w", err)
	}
	return out, nil
}

// heads reads the head of each app's queue at now through query (on the
// reader, or in a write transaction: a claim across apps), in one statement: per
// app, the first claimable entry by the queue's index, else the best of
// the first 100 entries whose lease or retry delay has ended (Claim makes
// those claimable first).
func heads(query func(q string, args ...any) (*sql.Rows, error), apps []string, now int64) ([]store.Head, error) {
	out := make([]store.Head, len(apps))
	if len(apps) == 0 {
		return out, nil
	}
	// One row per app: a VALUES list joined to the two lookups, so that
	// a worker over several apps reads them all in one query.
	var sb strings.Builder
	sb.WriteString("WITH a(i, app) AS (VALUES ")
	args := make([]any, 0, 2*len(apps)+1)
	for i, app := range apps {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(?, ?)")
		args = append(args, i, app)
	}
	sb.WriteString(") SELECT i, " +
		"(SELECT priority FROM jobs WHERE jobs.app = a.app AND queued = 1 AND wake = 0 ORDER BY priority, seq LIMIT 1), " +
		"(SELECT min(priority) FROM (SELECT priority FROM jobs WHERE jobs.app = a.app AND queued = 1 AND wake > 0 AND wake <= ? LIMIT 100)) " +
		"FROM a")
	args = append(args, now)
	rs, err := query(sb.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	for rs.Next() {
		var i int
		var ready, woken sql.NullInt64
		if err := rs.Scan(&i, &ready, &woken); err != nil {
			return nil, err
		}
		for _, p := range []sql.NullInt64{ready, woken} {
			if p.Valid && (!out[i].Ready || int(p.Int64) < out[i].Priority) {
				out[i] = store.Head{Ready: true, Priority: int(p.Int64)}
			}
		}
	}
	return out, rs.Err()
}

// claimApps is a claim across apps (store.ClaimRequest.Apps): their heads
// read and the claims made in this transaction.
func (tx *txn) claimApps(req store.ClaimRequest) (store.ClaimResult, error) {
	names := make([]string, len(req.Apps))
	for i, a := range req.Apps {
		names[i] = a.App
	}
	// Prepared, as the transaction's other statements are: the query is
	// the same for every claim across as many apps.
	h, err := heads(func(q string, args ...any) (*sql.Rows, error) {
		s, err := tx.stmt(q)
		if err != nil {
			return nil, err
		}
		return s.QueryContext(tx.ctx, args...)
	}, names, tx.now)
	if err != nil {
		return store.ClaimResult{}, err
	}
	return store.ClaimInOrder(req, h, tx.claim)
}
