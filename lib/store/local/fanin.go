package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Bubble-down with fan-in records, in steps of store.Batch (DESIGN.md
// section 6, "Fan-in records" and "Bubble-down in bounded steps").

// bubble handles the children of the completed job parent from index from,
// in tx, until they are all done or the step's budget is spent, and keeps
// parent's marker: it notes how many are done, or removes it when all are.
// A child whose fan-in record is still being built when the budget is
// spent is not done: the next step goes on with it. It returns the number
// done.
func (tx *txn) bubble(parent store.Ref, prio int, children []store.Child, from int) (int, error) {
	i, units := from, 0
	for ; i < len(children) && units < store.Batch; i++ {
		n, done, err := tx.bubbleDown(parent, children[i], prio, store.Batch-units)
		if err != nil {
			return 0, fmt.Errorf("child %v: %w", children[i].Ref, err)
		}
		units += n
		if !done {
			break
		}
	}
	if i < len(children) {
		return i, tx.exec("INSERT INTO bubbles (app, job_id, done, at) VALUES (?, ?, ?, ?) "+
			"ON CONFLICT (app, job_id) DO UPDATE SET done = excluded.done, at = excluded.at",
			parent.App, parent.JobID, i, tx.now)
	}
	return i, tx.exec("DELETE FROM bubbles WHERE app = ? AND job_id = ?", parent.App, parent.JobID)
}

// bubbleDown notes the completion of parent in the fan-in record of child
// c, and queues c (creating it if absent) when the record says that no
// parent is missing and the parents' states agree, unless c is queued or
// not pending. A record is built, and checked before c is queued, by
// reading c's parents at most budget at a time (budget is at least 1):
// done is false while the build is unfinished. It returns the step budget
// it used: one, plus one per parent read.
func (tx *txn) bubbleDown(parent store.Ref, c store.Child, prio, budget int) (units int, done bool, err error) {
	r, found, err := tx.load(c.Ref)
	if err != nil {
		return 0, false, err
	}
	needs := !found || (r.state == store.Pending && !r.queued)
	var missing int64
	var build sql.NullInt64
	var parents []store.Ref
	s, err := tx.stmt("SELECT missing, build FROM fanin WHERE app = ? AND job_id = ?")
	if err != nil {
		return 0, false, err
	}
	switch err := s.QueryRowContext(tx.ctx, c.App, c.JobID).Scan(&missing, &build); {
	case errors.Is(err, sql.ErrNoRows):
		if !needs {
			return 1, true, nil
		}
		// The child's first record: every parent missing, built from
		// the first.
		if parents, err = tx.b.parents.Of(c, store.Batch); err != nil {
			return 0, false, err
		}
		missing, build = distinct(parents), sql.NullInt64{Valid: true}
		if err := tx.exec("INSERT INTO fanin (app, job_id, missing, build) VALUES (?, ?, ?, 0)", c.App, c.JobID, missing); err != nil {
			return 0, false, err
		}
	case err != nil:
		return 0, false, err
	}
	if err := tx.mark(c.Ref, parent, true, &missing); err != nil {
		return 0, false, err
	}
	if !build.Valid {
		switch {
		case missing > 0:
			return 1, true, tx.exec("UPDATE fanin SET missing = ? WHERE app = ? AND job_id = ?", missing, c.App, c.JobID)
		case !needs:
			return 1, true, tx.dropFanin(c.Ref)
		}
		// The check before the child is queued: a build from the first
		// parent over the full set.
		build.Valid = true
	}
	if parents == nil {
		if parents, err = tx.b.parents.Of(c, store.Batch); err != nil {
			return 0, false, err
		}
	}
	from := min(int(build.Int64), len(parents))
	to := from + min(budget, len(parents)-from)
	for _, p := range parents[from:to] {
		completed := p == parent // completed in this transaction
		if !completed {
			pr, _, err := tx.load(p)
			if err != nil {
				return 0, false, err
			}
			completed = pr.state == store.Completed
		}
		if err := tx.mark(c.Ref, p, completed, &missing); err != nil {
			return 0, false, err
		}
	}
	units = 1 + to - from
	switch {
	case to < len(parents):
		return units, false, tx.exec("UPDATE fanin SET missing = ?, build = ? WHERE app = ? AND job_id = ?", missing, to, c.App, c.JobID)
	case missing > 0:
		return units, true, tx.exec("UPDATE fanin SET missing = ?, build = NULL WHERE app = ? AND job_id = ?", missing, c.App, c.JobID)
	}
	if err := tx.dropFanin(c.Ref); err != nil || !needs {
		return units, true, err
	}
	if !found {
		if _, err := tx.create(&r, c.Node, prio); err != nil {
			return 0, false, err
		}
	} else if err := tx.enqueue(&r, prio); err != nil {
		return 0, false, err
	}
	return units, true, tx.save(&r)
}

// mark puts parent p in the set of the fan-in record of child c if it is
// completed, or takes it out if not, and counts the change in missing:
// missing is always the number of c's parents less the set's size,
// whoever changes the set.
func (tx *txn) mark(c, p store.Ref, completed bool, missing *int64) error {
	q, d := "DELETE FROM fanin_seen WHERE app = ? AND job_id = ? AND parent = ?", int64(1)
	if completed {
		q, d = "INSERT INTO fanin_seen (app, job_id, parent) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", -1
	}
	s, err := tx.stmt(q)
	if err != nil {
		return err
	}
	res, err := s.ExecContext(tx.ctx, c.App, c.JobID, p.App+"\t"+p.JobID)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	*missing += n * d
	return err
}

// distinct counts the distinct refs of a list.
func distinct(refs []store.Ref) int64 {
	set := make(map[store.Ref]struct{}, len(refs))
	for _, r := range refs {
		set[r] = struct{}{}
	}
	return int64(len(set))
}

// dropFanin removes a child's fan-in record.
func (tx *txn) dropFanin(c store.Ref) error {
	if err := tx.exec("DELETE FROM fanin WHERE app = ? AND job_id = ?", c.App, c.JobID); err != nil {
		return err
	}
	return tx.exec("DELETE FROM fanin_seen WHERE app = ? AND job_id = ?", c.App, c.JobID)
}

// finish goes on with the bubble-down of parent, whose first done children
// are handled, one step at a time, as its marker says. With done < 0
// (Resume) it makes at least one step, which drops a marker that has
// nothing left to do.
func (b *Backend) finish(ctx context.Context, parent store.Ref, children []store.Child, done int) error {
	for first := done < 0; first || done < len(children); first = false {
		if err := store.Step(ctx, parent, max(done, 0)); err != nil {
			return err
		}
		err := b.write(ctx, func(tx *txn) error {
			from, readd, found, err := tx.marker(parent)
			if err != nil {
				return err
			}
			if !found || readd {
				done = len(children) // finished by another process (or readded since)
				return nil
			}
			p, _, err := tx.load(parent)
			if err != nil {
				return err
			}
			if p.state != store.Completed {
				done = len(children)
				return tx.exec("DELETE FROM bubbles WHERE app = ? AND job_id = ?", parent.App, parent.JobID)
			}
			done, err = tx.bubble(parent, p.priority, children, from)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Unfinished lists unfinished bubble-downs and readds idle for idle (see
// store.Backend).
func (b *Backend) Unfinished(ctx context.Context, idle time.Duration, n int) ([]store.Marker, error) {
	rs, err := b.r.QueryContext(ctx, "SELECT app, job_id, readd FROM bubbles WHERE at <= ? ORDER BY at LIMIT ?",
		time.Now().Add(-idle).UnixNano(), n)
	if err != nil {
		return nil, fmt.Errorf("unfinished: %w", err)
	}
	defer rs.Close()
	var out []store.Marker
	for rs.Next() {
		var m store.Marker
		if err := rs.Scan(&m.App, &m.JobID, &m.Readd); err != nil {
			return nil, fmt.Errorf("unfinished: %w", err)
		}
		out = append(out, m)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("unfinished: %w", err)
	}
	return out, nil
}

// Resume finishes an unfinished bubble-down (see store.Backend).
func (b *Backend) Resume(ctx context.Context, parent store.Ref, children []store.Child) error {
	if err := b.finish(ctx, parent, children, -1); err != nil {
		return fmt.Errorf("resume %v: %w", parent, err)
	}
	return nil
}

// Unseen reads child's fan-in record (see store.FanInReader).
func (b *Backend) Unseen(ctx context.Context, child store.Ref, parents []store.Ref) ([]store.Ref, bool, error) {
	tx, err := b.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, false, fmt.Errorf("unseen %v: %w", child, err)
	}
	defer tx.Rollback()
	var build sql.NullInt64
	err = tx.QueryRowContext(ctx, "SELECT build FROM fanin WHERE app = ? AND job_id = ?", child.App, child.JobID).Scan(&build)
	switch {
	case errors.Is(err, sql.ErrNoRows) || err == nil && build.Valid:
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("unseen %v: %w", child, err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT parent FROM fanin_seen WHERE app = ? AND job_id = ?", child.App, child.JobID)
	if err != nil {
		return nil, false, fmt.Errorf("unseen %v: %w", child, err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, false, fmt.Errorf("unseen %v: %w", child, err)
		}
		seen[p] = true
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("unseen %v: %w", child, err)
	}
	return store.NotSeen(parents, seen), true, nil
}
