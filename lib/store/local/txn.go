package local

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// row is one job as stored.
type row struct {
	store.Ref
	state        store.State
	queued       bool
	priority     int
	seq          int64
	wake         int64
	owner        string
	token        string
	until        int64
	transferable bool
	notBefore    int64
	attempts     int
	outcome      string
	tries        int64   // attempts numbered so far (store.Attempt.Seq)
	start        int64   // when the lease was taken
	kept         []byte  // the attempts its history keeps (history.go)
	queuedAt     int64   // when its queue entry was made
	stored       counted // what the apps table counts of the row as stored (zero: not stored)
}

// counted is what the apps table counts of a job: its state and whether it
// is queued.
type counted struct {
	state  store.State
	queued bool
}

const rowCols = "app, job_id, state, queued, priority, seq, wake, owner, token, lease_until, transferable, not_before, attempts, outcome, tries, lease_start, kept, queued_at"

func (r *row) scan(s interface{ Scan(...any) error }) error {
	err := s.Scan(&r.App, &r.JobID, &r.state, &r.queued, &r.priority, &r.seq, &r.wake,
		&r.owner, &r.token, &r.until, &r.transferable, &r.notBefore, &r.attempts, &r.outcome, &r.tries, &r.start, &r.kept, &r.queuedAt)
	r.stored = counted{r.state, r.queued}
	return err
}

// leased reports whether the row holds a live lease at now.
func (r *row) leased(now int64) bool { return r.token != "" && r.until > now }

// job is the row as the store package sees it at now.
func (r *row) job(now int64) store.Job {
	j := store.Job{
		Ref: r.Ref, State: r.state, Queued: r.queued, Priority: r.priority,
		Attempts: r.attempts, Outcome: r.outcome,
	}
	if r.token != "" {
		j.Owner, j.Until, j.Revoked = r.owner, time.Unix(0, r.until), store.IsRevoked(r.token)
	}
	if r.queued && r.notBefore > now {
		j.NotBefore = time.Unix(0, r.notBefore)
	}
	return j
}

// txn is one write transaction.
type txn struct {
	b       *Backend
	ctx     context.Context
	tx      *sql.Tx
	now     int64 // unix ns, read once when the transaction began
	stmts   map[string]*sql.Stmt
	touched map[string]bool       // apps that got a claimable entry
	counts  map[string]*appCounts // apps whose counts changed, by how much
	seq     int64                 // last queue position handed out; 0 until loaded
	seen    []appGen              // queue generations Claim saw, for Wait once committed
	loads   int                   // jobs read (load), for tests of a step's bound
}

// appCounts are the counts of the apps table, or changes to them.
type appCounts struct{ pending, completed, failed, skipped, queued int64 }

// add adds sign (1 or -1) times a job's share.
func (c *appCounts) add(k counted, sign int64) {
	switch k.state {
	case store.Pending:
		c.pending += sign
	case store.Completed:
		c.completed += sign
	case store.Failed:
		c.failed += sign
	case store.Skipped:
		c.skipped += sign
	}
	if k.queued {
		c.queued += sign
	}
}

// recount notes that a job went from one counted state to another.
func (tx *txn) recount(app string, from, to counted) {
	if from != to {
		c := tx.countsOf(app)
		c.add(from, -1)
		c.add(to, 1)
	}
}

// countsOf returns the changes to an app's counts so far.
func (tx *txn) countsOf(app string) *appCounts {
	if tx.counts == nil {
		tx.counts = map[string]*appCounts{}
	}
	c := tx.counts[app]
	if c == nil {
		c = &appCounts{}
		tx.counts[app] = c
	}
	return c
}

// appGen is an app's queue generation.
type appGen struct {
	app string
	gen int64
}

// stmt returns q prepared in this transaction (and kept prepared on the
// connection for later transactions).
func (tx *txn) stmt(q string) (*sql.Stmt, error) {
	if s, ok := tx.stmts[q]; ok {
		return s, nil
	}
	ds, err := tx.b.prepared(tx.ctx, q)
	if err != nil {
		return nil, err
	}
	s := tx.tx.StmtContext(tx.ctx, ds)
	if tx.stmts == nil {
		tx.stmts = map[string]*sql.Stmt{}
	}
	tx.stmts[q] = s
	return s, nil
}

func (tx *txn) exec(q string, args ...any) error {
	s, err := tx.stmt(q)
	if err != nil {
		return err
	}
	_, err = s.ExecContext(tx.ctx, args...)
	return err
}

func (tx *txn) closeStmts() {
	for _, s := range tx.stmts {
		s.Close()
	}
}

// load reads a job; found is false if it is absent.
func (tx *txn) load(ref store.Ref) (r row, found bool, err error) {
	tx.loads++
	s, err := tx.stmt("SELECT " + rowCols + " FROM jobs WHERE app = ? AND job_id = ?")
	if err != nil {
		return r, false, err
	}
	err = r.scan(s.QueryRowContext(tx.ctx, ref.App, ref.JobID))
	if errors.Is(err, sql.ErrNoRows) {
		return row{Ref: ref}, false, nil
	}
	return r, err == nil, err
}

// newRow is a job that does not exist yet.
func newRow(ref store.Ref, st store.State) row {
	return row{Ref: ref, state: st, priority: store.DefaultPriority}
}

// save writes a job, computing when its queue entry is claimable.
func (tx *txn) save(r *row) error {
	r.wake = 0
	if r.queued {
		if r.token != "" && r.until > tx.now {
			r.wake = r.until
		}
		if r.notBefore > tx.now {
			r.wake = max(r.wake, r.notBefore)
		} else {
			r.notBefore = 0
		}
	} else {
		r.notBefore = 0
	}
	err := tx.exec("INSERT INTO jobs ("+rowCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "+
		"ON CONFLICT (app, job_id) DO UPDATE SET state = excluded.state, queued = excluded.queued, "+
		"priority = excluded.priority, seq = excluded.seq, wake = excluded.wake, owner = excluded.owner, "+
		"token = excluded.token, lease_until = excluded.lease_until, transferable = excluded.transferable, "+
		"not_before = excluded.not_before, attempts = excluded.attempts, outcome = excluded.outcome, "+
		"tries = excluded.tries, lease_start = excluded.lease_start, kept = excluded.kept, queued_at = excluded.queued_at",
		r.App, r.JobID, r.state, r.queued, r.priority, r.seq, r.wake, r.owner, r.token, r.until,
		r.transferable, r.notBefore, r.attempts, r.outcome, r.tries, r.start, r.kept, r.queuedAt)
	if err != nil {
		return err
	}
	now := counted{r.state, r.queued}
	tx.recount(r.App, r.stored, now)
	r.stored = now
	return nil
}

// enqueue gives a job a queue entry at the back, with priority prio, unless
// it has one.
// requeue puts r, taken off its queue (dequeue), back on it, claimable
// after delay (at once for 0), and saves it: a Fail that retries, or a
// Defer.
func (tx *txn) requeue(r *row, delay time.Duration) error {
	if err := tx.enqueue(r, r.priority); err != nil {
		return err
	}
	if delay > 0 {
		r.notBefore = tx.now + int64(delay)
	}
	return tx.save(r)
}

func (tx *txn) enqueue(r *row, prio int) error {
	if r.queued {
		return nil
	}
	if tx.seq == 0 {
		s, err := tx.stmt("SELECT value FROM meta WHERE key = 'seq'")
		if err != nil {
			return err
		}
		if err := s.QueryRowContext(tx.ctx).Scan(&tx.seq); err != nil {
			return err
		}
	}
	tx.seq++
	r.queued, r.priority, r.seq, r.notBefore, r.queuedAt = true, prio, tx.seq, 0, tx.now
	tx.touched[r.App] = true
	return nil
}

// dequeue removes a job's queue entry.
func dequeue(r *row) { r.queued, r.notBefore = false, 0 }

// clearLease drops a job's lease.
func clearLease(r *row) { r.owner, r.token, r.until, r.transferable = "", "", 0, false }

// revoke revokes a live lease of a worker (see store.Lease).
func revoke(r *row, now int64) {
	if r.leased(now) && !r.transferable && !store.IsRevoked(r.token) {
		r.token = store.RevokedToken(r.token)
	}
}

// abandoned counts the abandoned attempt of a lease that ended without an
// outcome, if r has one (see store.Lease), records it, and reports whether
// it did.
func (tx *txn) abandoned(r *row) (bool, error) {
	if r.token == "" || r.leased(tx.now) || r.transferable || store.IsRevoked(r.token) {
		return false, nil
	}
	r.attempts++
	r.outcome = store.AbandonedOutcome(r.owner)
	return true, tx.record(r, r.tries, r.until, r.outcome, "")
}

// lease gives a job a new lease.
func (tx *txn) lease(r *row, owner string, d time.Duration, transferable bool) (store.Lease, error) {
	tok, err := newToken()
	if err != nil {
		return store.Lease{}, err
	}
	r.owner, r.token, r.until, r.transferable = owner, tok, tx.now+int64(d), transferable
	r.start = tx.now
	l := store.Lease{
		Ref: r.Ref, Token: tok, Owner: owner, Until: time.Unix(0, r.until),
		Priority: r.priority, Attempts: r.attempts,
	}
	if !transferable {
		r.tries++
		l.Seq = r.tries
	}
	return l, nil
}

// held loads the job of a lease and checks that the lease is live.
func (tx *txn) held(l store.Lease) (row, error) {
	r, found, err := tx.load(l.Ref)
	if err != nil {
		return r, err
	}
	if !found || l.Token == "" || r.token != l.Token || r.until <= tx.now {
		return r, store.ErrLeaseLost
	}
	return r, nil
}

// finish writes the queue position counter, and in one statement per app
// the changes of its counts and a bump of its generation if it got a
// claimable entry.
func (tx *txn) finish() error {
	if tx.seq != 0 {
		if err := tx.exec("UPDATE meta SET value = ? WHERE key = 'seq'", tx.seq); err != nil {
			return err
		}
	}
	for app := range tx.touched {
		tx.countsOf(app)
	}
	for app, c := range tx.counts {
		if *c == (appCounts{}) && !tx.touched[app] {
			continue
		}
		gen := 0
		if tx.touched[app] {
			gen = 1
		}
		err := tx.exec("INSERT INTO apps (app, gen, pending, completed, failed, skipped, queued) VALUES (?, ?, ?, ?, ?, ?, ?) "+
			"ON CONFLICT (app) DO UPDATE SET gen = gen + excluded.gen, pending = pending + excluded.pending, "+
			"completed = completed + excluded.completed, failed = failed + excluded.failed, "+
			"skipped = skipped + excluded.skipped, queued = queued + excluded.queued",
			app, gen, c.pending, c.completed, c.failed, c.skipped, c.queued)
		if err != nil {
			return err
		}
	}
	return nil
}
