package local

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// The attempt history (DESIGN.md section 4, "Attempt history") is one
// table, history, keyed by (app, ended, job_id, seq): recording an attempt
// is one insert at the app's end of that B-tree (the page every record of
// the app goes to), and an app's attempts over a time window are a range
// of it, in order of their end. Each job's row lists the attempts kept
// (kept: their seq and end, oldest first), which is how History finds a
// job's records and how a record finds the one it pushes out past the
// retention, with no second index to write (an index on (app, ended)
// beside a table keyed by job cost a second B-tree page in every commit
// that records an attempt: 7% of the chain throughput of make bench).

// keptAttempt is one entry of a job's list of kept attempts.
type keptAttempt struct{ seq, ended int64 }

// decodeKept reads a job's list of kept attempts: varint pairs.
func decodeKept(b []byte) ([]keptAttempt, error) {
	var out []keptAttempt
	for len(b) > 0 {
		seq, n := binary.Varint(b)
		if n <= 0 {
			return nil, errors.New("bad list of kept attempts")
		}
		ended, m := binary.Varint(b[n:])
		if m <= 0 {
			return nil, errors.New("bad list of kept attempts")
		}
		out = append(out, keptAttempt{seq, ended})
		b = b[n+m:]
	}
	return out, nil
}

// encodeKept writes a job's list of kept attempts.
func encodeKept(ks []keptAttempt) []byte {
	var b []byte
	for _, k := range ks {
		b = binary.AppendVarint(b, k.seq)
		b = binary.AppendVarint(b, k.ended)
	}
	return b
}

// record writes the record of attempt seq of r's lease, ended at end, and
// adds it to r's list of kept attempts, removing the records of the
// oldest ones past the retention; the caller saves r. A lease with no
// number (transferable) has none.
func (tx *txn) record(r *row, seq, end int64, outcome, log string) error {
	if seq <= 0 {
		return nil
	}
	kept, err := decodeKept(r.kept)
	if err != nil {
		return fmt.Errorf("%v: %w", r.Ref, err)
	}
	if err := tx.exec("INSERT OR REPLACE INTO history (app, ended, job_id, seq, started, worker, outcome, log) "+
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?)", r.App, end, r.JobID, seq, r.start, r.owner, outcome, log); err != nil {
		return err
	}
	kept = slices.DeleteFunc(kept, func(k keptAttempt) bool { return k.seq == seq })
	kept = append(kept, keptAttempt{seq, end})
	for len(kept) > tx.b.keep {
		if err := tx.exec("DELETE FROM history WHERE app = ? AND ended = ? AND job_id = ? AND seq = ?",
			r.App, kept[0].ended, r.JobID, kept[0].seq); err != nil {
			return err
		}
		kept = kept[1:]
	}
	r.kept = encodeKept(kept)
	return nil
}

// History reads the recorded attempts of jobs (see store.Backend).
func (b *Backend) History(ctx context.Context, refs []store.Ref) ([][]store.Attempt, error) {
	tx, err := b.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer tx.Rollback()
	list, err := tx.PrepareContext(ctx, "SELECT kept FROM jobs WHERE app = ? AND job_id = ?")
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer list.Close()
	one, err := tx.PrepareContext(ctx, "SELECT "+attemptCols+" FROM history WHERE app = ? AND ended = ? AND job_id = ? AND seq = ?")
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer one.Close()
	out := make([][]store.Attempt, len(refs))
	for i, ref := range refs {
		var raw []byte
		if err := list.QueryRowContext(ctx, ref.App, ref.JobID).Scan(&raw); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("history %v: %w", ref, err)
		}
		kept, err := decodeKept(raw)
		if err != nil {
			return nil, fmt.Errorf("history %v: %w", ref, err)
		}
		slices.SortFunc(kept, func(a, b keptAttempt) int { return cmp.Compare(a.seq, b.seq) })
		for _, k := range kept {
			err := scanAttempts(one.QueryContext(ctx, ref.App, k.ended, ref.JobID, k.seq))(func(a store.Attempt) error {
				out[i] = append(out[i], a)
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("history %v: %w", ref, err)
			}
		}
	}
	return out, nil
}

// AppHistory calls fn for the attempts of an app that ended in [since,
// until), in order of their end (see store.Backend).
func (b *Backend) AppHistory(ctx context.Context, app string, since, until time.Time, fn func(store.Attempt) error) error {
	hi := int64(math.MaxInt64)
	if !until.IsZero() {
		hi = nanos(until)
	}
	err := scanAttempts(b.r.QueryContext(ctx, "SELECT "+attemptCols+" FROM history "+
		"WHERE app = ? AND ended >= ? AND ended < ? ORDER BY ended, job_id, seq", app, nanos(since), hi))(fn)
	if err != nil {
		return fmt.Errorf("history %s: %w", app, err)
	}
	return nil
}

const attemptCols = "app, job_id, seq, started, ended, worker, outcome, log"

// scanAttempts returns a function that calls fn for each row of a query of
// attemptCols, and closes the rows.
func scanAttempts(rs *sql.Rows, err error) func(fn func(store.Attempt) error) error {
	return func(fn func(store.Attempt) error) error {
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var a store.Attempt
			var start, end int64
			if err := rs.Scan(&a.App, &a.JobID, &a.Seq, &start, &end, &a.Worker, &a.Outcome, &a.Log); err != nil {
				return err
			}
			a.Start, a.End = time.Unix(0, start), time.Unix(0, end)
			if err := fn(a); err != nil {
				return err
			}
		}
		return rs.Err()
	}
}

// historyFrom7 ends schema version 7's migration: each job's list of kept
// attempts from the old table (attempts, a ring keyed by job and slot),
// which it then drops.
func historyFrom7(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "SELECT app, job_id, seq, ended FROM attempts ORDER BY app, job_id, seq")
	if err != nil {
		return err
	}
	lists := map[store.Ref][]keptAttempt{}
	var order []store.Ref
	for rows.Next() {
		var r store.Ref
		var k keptAttempt
		if err := rows.Scan(&r.App, &r.JobID, &k.seq, &k.ended); err != nil {
			rows.Close()
			return err
		}
		if _, ok := lists[r]; !ok {
			order = append(order, r)
		}
		lists[r] = append(lists[r], k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range order {
		if _, err := tx.ExecContext(ctx, "UPDATE jobs SET kept = ? WHERE app = ? AND job_id = ?", encodeKept(lists[r]), r.App, r.JobID); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, "DROP TABLE attempts")
	return err
}
