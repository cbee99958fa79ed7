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
// It returns the number done.
func (tx *txn) bubble(parent store.Ref, prio int, children []store.Child, from int) (int, error) {
	i, units := from, 0
	for ; i < len(children) && units < store.Batch; i++ {
		n, err := tx.bubbleDown(parent, children[i], prio)
		if err != nil {
			return 0, fmt.Errorf("child %v: %w", children[i].Ref, err)
		}
		units += n
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
// not pending. It returns the step budget it used: one, plus one per
// parent read.
func (tx *txn) bubbleDown(parent store.Ref, c store.Child, prio int) (int, error) {
	r, found, err := tx.load(c.Ref)
	if err != nil {
		return 0, err
	}
	needs := !found || (r.state == store.Pending && !r.queued)
	var missing int64
	s, err := tx.stmt("SELECT missing FROM fanin WHERE app = ? AND job_id = ?")
	if err != nil {
		return 0, err
	}
	switch err := s.QueryRowContext(tx.ctx, c.App, c.JobID).Scan(&missing); {
	case errors.Is(err, sql.ErrNoRows):
		if !needs {
			return 1, nil
		}
	case err != nil:
		return 0, err
	default:
		s, err := tx.stmt("INSERT INTO fanin_seen (app, job_id, parent) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
		if err != nil {
			return 0, err
		}
		res, err := s.ExecContext(tx.ctx, c.App, c.JobID, parent.App+"\t"+parent.JobID)
		if err != nil {
			return 0, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, err
		} else if n == 1 {
			missing--
			if err := tx.exec("UPDATE fanin SET missing = ? WHERE app = ? AND job_id = ?", missing, c.App, c.JobID); err != nil {
				return 0, err
			}
		}
		if missing > 0 {
			return 1, nil
		}
		if err := tx.dropFanin(c.Ref); err != nil {
			return 0, err
		}
		if !needs {
			return 1, nil
		}
	}
	// Build the record from the parents' states: the child's first
	// record, or the check before it is queued.
	parents, err := store.ChildParents(c)
	if err != nil {
		return 0, err
	}
	var seen []string
	missing = 0
	done := map[store.Ref]bool{}
	for _, p := range parents {
		if done[p] {
			continue
		}
		done[p] = true
		completed := p == parent // completed in this transaction
		if !completed {
			pr, _, err := tx.load(p)
			if err != nil {
				return 0, err
			}
			completed = pr.state == store.Completed
		}
		if completed {
			seen = append(seen, p.App+"\t"+p.JobID)
		} else {
			missing++
		}
	}
	units := 1 + len(parents)
	if missing > 0 {
		if err := tx.exec("INSERT INTO fanin (app, job_id, missing) VALUES (?, ?, ?)", c.App, c.JobID, missing); err != nil {
			return 0, err
		}
		for _, p := range seen {
			if err := tx.exec("INSERT INTO fanin_seen (app, job_id, parent) VALUES (?, ?, ?)", c.App, c.JobID, p); err != nil {
				return 0, err
			}
		}
		return units, nil
	}
	if !found {
		if _, err := tx.create(&r, c.Node, prio); err != nil {
			return 0, err
		}
	} else if err := tx.enqueue(&r, prio); err != nil {
		return 0, err
	}
	return units, tx.save(&r)
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
