package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Get reads jobs (see store.Backend).
func (b *Backend) Get(ctx context.Context, refs []store.Ref) ([]store.Job, error) {
	tx, err := b.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	defer tx.Rollback()
	s, err := tx.PrepareContext(ctx, "SELECT "+rowCols+" FROM jobs WHERE app = ? AND job_id = ?")
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	defer s.Close()
	now := time.Now().UnixNano()
	jobs := make([]store.Job, len(refs))
	for i, ref := range refs {
		var r row
		err := r.scan(s.QueryRowContext(ctx, ref.App, ref.JobID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			jobs[i] = store.Job{Ref: ref}
		case err != nil:
			return nil, fmt.Errorf("get %v: %w", ref, err)
		default:
			jobs[i] = r.job(now)
		}
	}
	return jobs, nil
}

// Held reads whether a lease is still held (see store.Backend).
func (b *Backend) Held(ctx context.Context, l store.Lease) error {
	var r row
	err := r.scan(b.r.QueryRowContext(ctx, "SELECT "+rowCols+" FROM jobs WHERE app = ? AND job_id = ?", l.App, l.JobID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("held %v: %w", l.Ref, store.ErrLeaseLost)
	case err != nil:
		return fmt.Errorf("held %v: %w", l.Ref, err)
	case l.Token == "" || r.token != l.Token || !r.leased(time.Now().UnixNano()):
		return fmt.Errorf("held %v: %w", l.Ref, store.ErrLeaseLost)
	}
	return nil
}

// List calls fn for every job of an app, of one state unless st is Absent
// (see store.Backend).
func (b *Backend) List(ctx context.Context, app string, st store.State, fn func(store.Job) error) error {
	q, args := "SELECT "+rowCols+" FROM jobs WHERE app = ?", []any{app}
	if st != store.Absent {
		q, args = q+" AND state = ?", append(args, st)
	}
	rs, err := b.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("list %s: %w", app, err)
	}
	defer rs.Close()
	now := time.Now().UnixNano()
	for rs.Next() {
		var r row
		if err := r.scan(rs); err != nil {
			return fmt.Errorf("list %s: %w", app, err)
		}
		if err := fn(r.job(now)); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("list %s: %w", app, err)
	}
	return nil
}

// Count counts an app's jobs (see store.Backend): one row of the apps
// table, which every write keeps up to date, and the live leases: those of
// queued jobs among the waiting entries that wake after now (a queued
// job's live lease makes it wait for the lease's end; the others wait for
// a retry delay), and those of jobs not queued (jobs_held).
func (b *Backend) Count(ctx context.Context, app string) (store.Counts, error) {
	var n [4]int
	var head int64
	c := store.Counts{States: map[store.State]int{}}
	now := time.Now().UnixNano()
	err := b.r.QueryRowContext(ctx, countQuery, app, now).
		Scan(&n[0], &n[1], &n[2], &n[3], &c.Queued, &c.Claimed, &head)
	if err != nil {
		return store.Counts{}, fmt.Errorf("count %s: %w", app, err)
	}
	if head > 0 {
		c.HeadAge = time.Duration(max(now-head, 0))
	}
	for i, st := range []store.State{store.Pending, store.Completed, store.Failed, store.Skipped} {
		if n[i] != 0 {
			c.States[st] = n[i]
		}
	}
	return c, nil
}

// countQuery reads an app's counts (?1) at a time (?2), and when the head
// of its queue of waiting entries was queued (jobs_ready's first entry). "wake > 0" is
// implied by "wake > ?2", but SQLite uses a partial index only when the
// query names its condition itself.
const countQuery = "SELECT coalesce(a.pending, 0), coalesce(a.completed, 0), coalesce(a.failed, 0), " +
	"coalesce(a.skipped, 0), coalesce(a.queued, 0), " + runningExpr + ", " +
	"coalesce((SELECT queued_at FROM jobs WHERE app = ?1 AND queued = 1 AND wake = 0 ORDER BY priority, seq LIMIT 1), 0) " +
	"FROM (SELECT 1) LEFT JOIN apps a ON a.app = ?1"

// runningExpr counts an app's (?1) live leases at a time (?2): its
// claimed jobs, and the running jobs of its limits (limits.go).
const runningExpr = "(SELECT count(*) FROM jobs WHERE app = ?1 AND queued = 1 AND wake > 0 AND wake > ?2 AND lease_until > ?2) + " +
	"(SELECT count(*) FROM jobs WHERE app = ?1 AND queued = 0 AND token != '' AND lease_until > ?2)"

// readGen reads an app's queue generation outside a write transaction.
func (b *Backend) readGen(ctx context.Context, app string) (int64, error) {
	var g int64
	err := b.r.QueryRowContext(ctx, "SELECT coalesce((SELECT gen FROM apps WHERE app = ?), 0)", app).Scan(&g)
	return g, err
}

// Wait blocks until the app's queue got a claimable entry since this
// Backend's last Claim (or Wait) of the app, until until, or until ctx ends
// (see store.Backend). It sleeps on inotify events for the doorbell file,
// which writers touch after each commit that adds claimable entries, and
// re-reads the app's queue generation on each (outside Linux, on each tick
// of watch's polling). (Events on the WAL itself would not do: the last one
// can come before the commit is visible.)
func (b *Backend) Wait(ctx context.Context, app string, until time.Time) error {
	changes, stop, err := b.watch(b.bell)
	if err != nil {
		return fmt.Errorf("wait %s: %w", app, err)
	}
	defer stop()
	b.mu.Lock()
	seen, ok := b.seen[app]
	b.mu.Unlock()
	var timeout <-chan time.Time // none for a zero until
	if !until.IsZero() {
		timer := time.NewTimer(time.Until(until))
		defer timer.Stop()
		timeout = timer.C
	}
	for {
		gen, err := b.readGen(ctx, app)
		if err != nil {
			return fmt.Errorf("wait %s: %w", app, err)
		}
		if !ok {
			seen, ok = gen, true
		}
		if gen != seen {
			b.mu.Lock()
			b.seen[app] = gen
			b.mu.Unlock()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return nil
		case err, open := <-changes:
			if !open {
				return fmt.Errorf("wait %s: watching %s: %w", app, filepath.Dir(b.path), err)
			}
		}
	}
}

// nanos is t in Unix nanoseconds, clamped to what an int64 holds (years
// 1678 to 2262), where UnixNano is undefined.
func nanos(t time.Time) int64 {
	switch {
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	}
	return t.UnixNano()
}
