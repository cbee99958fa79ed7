// Package local is the default job-state backend of stolos: one SQLite file
// (modernc.org/sqlite, pure Go) in WAL mode, safe for many concurrent
// processes on one machine.
//
// Every Backend method is one SQLite transaction; those that write take the
// write lock at BEGIN (BEGIN IMMEDIATE), so that two processes never read
// the same state and both act on it, and retry while the database is busy.
// Leases and retry delays are times of the machine clock.
//
// The queue is two partial indexes over the jobs table: entries that are
// claimable (by app, priority, position) and entries that are waiting for
// a time (a live lease or a retry delay, by app and that time). A claim
// first moves the entries whose time has passed to the claimable index and
// then takes the first N, so it costs O(log n) whatever the queue size.
//
// Writers queue on flock(2) of a lock file (the database path with "-lock"
// appended) before they begin, rather than on SQLite's sleeping busy
// handler (see writeLock).
//
// Wait watches the database directory with inotify for a doorbell file
// (the database path with "-wake" appended) that every commit adding a
// claimable entry touches, and then re-reads a per-app queue generation
// that such commits bump. Without inotify (outside Linux) it re-reads the
// generation every 100 ms instead.
package local

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/stolos-sched/stolos/lib/store"
)

// schemaVersion is the PRAGMA user_version of the schema: the number of
// migrations below. Open applies those a file lacks, in order, and refuses
// a file from a newer stolos.
var schemaVersion = len(migrations)

// migrations[i] takes a file from schema version i to i+1.
var migrations = []string{
	// 1: jobs, their queue (two partial indexes), per-app queue
	// generations, and the queue position counter.
	`
CREATE TABLE jobs (
	app          TEXT    NOT NULL,
	job_id       TEXT    NOT NULL,
	state        TEXT    NOT NULL,
	queued       INTEGER NOT NULL DEFAULT 0, -- 1: has a queue entry (waiting or claimed)
	priority     INTEGER NOT NULL DEFAULT 100,
	seq          INTEGER NOT NULL DEFAULT 0, -- queue position
	wake         INTEGER NOT NULL DEFAULT 0, -- queued: 0 if claimable, else when it may be (unix ns)
	owner        TEXT    NOT NULL DEFAULT '',
	token        TEXT    NOT NULL DEFAULT '', -- lease token, '' if none
	lease_until  INTEGER NOT NULL DEFAULT 0,
	transferable INTEGER NOT NULL DEFAULT 0,
	not_before   INTEGER NOT NULL DEFAULT 0,
	attempts     INTEGER NOT NULL DEFAULT 0,
	outcome      TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (app, job_id)
) WITHOUT ROWID;
CREATE INDEX jobs_ready ON jobs (app, priority, seq) WHERE queued = 1 AND wake = 0;
CREATE INDEX jobs_wake ON jobs (app, wake) WHERE queued = 1 AND wake > 0;
CREATE INDEX jobs_state ON jobs (app, state);
CREATE TABLE apps (
	app TEXT PRIMARY KEY,
	gen INTEGER NOT NULL -- bumped when a claimable entry is added
) WITHOUT ROWID;
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('seq', 0);
`,
	// 2: per-app counts of jobs by state and of queued jobs, kept by
	// every write (txn.save); the lease's end in the index of waiting
	// entries, and an index of the leases of jobs not queued (Acquire),
	// so that Count reads one row and about as many index entries as
	// there are live leases.
	`
ALTER TABLE apps ADD COLUMN pending   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN completed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN failed    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN skipped   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN queued    INTEGER NOT NULL DEFAULT 0;
INSERT INTO apps (app, gen, pending, completed, failed, skipped, queued)
	SELECT app, 0, sum(state = 'pending'), sum(state = 'completed'), sum(state = 'failed'),
		sum(state = 'skipped'), sum(queued) FROM jobs WHERE true GROUP BY app
	ON CONFLICT (app) DO UPDATE SET pending = excluded.pending, completed = excluded.completed,
		failed = excluded.failed, skipped = excluded.skipped, queued = excluded.queued;
DROP INDEX jobs_wake;
CREATE INDEX jobs_wake ON jobs (app, wake, lease_until) WHERE queued = 1 AND wake > 0;
CREATE INDEX jobs_held ON jobs (app, lease_until) WHERE queued = 0 AND token != '';
`,
	// 3: fan-in records and unfinished bubble-downs (DESIGN.md section
	// 6, "Fan-in records" and "Bubble-down in bounded steps").
	`
CREATE TABLE fanin (
	app     TEXT    NOT NULL, -- the child
	job_id  TEXT    NOT NULL,
	missing INTEGER NOT NULL, -- parents not seen completed
	PRIMARY KEY (app, job_id)
) WITHOUT ROWID;
CREATE TABLE fanin_seen (
	app       TEXT NOT NULL, -- the child
	job_id    TEXT NOT NULL,
	parent    TEXT NOT NULL, -- a parent seen completed: app TAB job_id
	PRIMARY KEY (app, job_id, parent)
) WITHOUT ROWID;
CREATE TABLE bubbles (
	app    TEXT    NOT NULL, -- a completed job whose bubble-down is unfinished
	job_id TEXT    NOT NULL,
	done   INTEGER NOT NULL, -- children handled
	at     INTEGER NOT NULL, -- when it last advanced (unix ns)
	PRIMARY KEY (app, job_id)
) WITHOUT ROWID;
CREATE INDEX bubbles_at ON bubbles (at);
`,
	// 4: attempt history (DESIGN.md section 4, "Attempt history"): the
	// job's attempt counter (never reset) and its lease's start, and the
	// ring of each job's last attempts, indexed by app and end.
	`
ALTER TABLE jobs ADD COLUMN tries       INTEGER NOT NULL DEFAULT 0; -- attempts numbered so far
ALTER TABLE jobs ADD COLUMN lease_start INTEGER NOT NULL DEFAULT 0; -- when the lease was taken (unix ns)
CREATE TABLE attempts (
	app     TEXT    NOT NULL,
	job_id  TEXT    NOT NULL,
	slot    INTEGER NOT NULL, -- seq mod the retention
	seq     INTEGER NOT NULL,
	started INTEGER NOT NULL, -- unix ns
	ended   INTEGER NOT NULL, -- unix ns
	worker  TEXT    NOT NULL,
	outcome TEXT    NOT NULL,
	log     TEXT    NOT NULL,
	PRIMARY KEY (app, job_id, slot)
) WITHOUT ROWID;
CREATE INDEX attempts_ended ON attempts (app, ended);
`,
	// 5: readds in steps (DESIGN.md section 6, "Readd in bounded
	// steps"): a marker in bubbles whose done counts descendants reset.
	`
ALTER TABLE bubbles ADD COLUMN readd INTEGER NOT NULL DEFAULT 0; -- 1: a readd, not a bubble-down
`,
	// 6: fan-in records built in steps (DESIGN.md section 6, "The local
	// backend builds a wide fan-in record in steps"): a record being
	// built has the index in its child's parents of the next one to read.
	`
ALTER TABLE fanin ADD COLUMN build INTEGER; -- NULL: built; else the next parent to read
`,
	// 7: the attempt history in one B-tree, keyed by app and end (so a
	// record is one insert at the app's end of the table, not an insert
	// in a table and another in its index), and each job's list of the
	// attempts kept in its row (history.go). historyFrom7 fills the
	// lists and the new table from the old one, which it then drops.
	`
ALTER TABLE jobs ADD COLUMN kept BLOB; -- the attempts kept: (seq, ended) pairs, oldest first
CREATE TABLE history (
	app     TEXT    NOT NULL,
	ended   INTEGER NOT NULL, -- unix ns
	job_id  TEXT    NOT NULL,
	seq     INTEGER NOT NULL,
	started INTEGER NOT NULL, -- unix ns
	worker  TEXT    NOT NULL,
	outcome TEXT    NOT NULL,
	log     TEXT    NOT NULL,
	PRIMARY KEY (app, ended, job_id, seq)
) WITHOUT ROWID;
INSERT INTO history (app, ended, job_id, seq, started, worker, outcome, log)
	SELECT app, ended, job_id, seq, started, worker, outcome, log FROM attempts WHERE true
	ON CONFLICT DO NOTHING;
`,
	// 8: when a job's queue entry was made (store.Counts.HeadAge, read
	// from the head of jobs_ready); 0 for one made before.
	`
ALTER TABLE jobs ADD COLUMN queued_at INTEGER NOT NULL DEFAULT 0; -- unix ns
`,
}

// migrated[i], if set, runs after migrations[i], in its transaction: the
// steps of a migration that SQL alone does not do well.
var migrated = map[int]func(ctx context.Context, tx *sql.Tx) error{
	6: historyFrom7,
}

// Backend is a job-state backend on one SQLite file.
type Backend struct {
	path string
	keep int    // attempts kept per job
	bell string // the doorbell file, touched after commits that queue work
	// watch is the package's watch; a test sets pollWatch to try the
	// fallback of other systems on Linux.
	watch func(path string) (<-chan error, func(), error)
	wl    *writeLock
	w     *sql.DB // writes: BEGIN IMMEDIATE
	r     *sql.DB // reads: plain BEGIN, query_only

	mu    sync.Mutex
	seen  map[string]int64     // app -> queue generation seen by the last Claim or Wait
	stmts map[string]*sql.Stmt // statements prepared on w
	// waitingQ is the statement of waiting for k apps of limits, by k.
	waitingQ map[int]string

	parents store.ParentMemo // wide children's parents, read in steps (fanin.go)

	// txDone, if set (by tests), is told how many jobs each write
	// transaction read and how long it held the write lock.
	txDone func(loads int, held time.Duration)
}

var (
	_ store.Backend         = (*Backend)(nil)
	_ store.CompleteClaimer = (*Backend)(nil)
)

// Options tune a Backend.
type Options struct {
	// Keep is how many attempts of each job the history keeps; zero
	// means store.DefaultKeep.
	Keep int
}

// Open opens the SQLite file at path, creating it and its schema if needed.
// The directory must exist.
func Open(ctx context.Context, path string) (*Backend, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*Backend, error) {
	var err error
	if o.Keep, err = store.Keep(o.Keep); err != nil {
		return nil, fmt.Errorf("open %s: %v", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if fi, err := os.Stat(filepath.Dir(abs)); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("open %s: %s is not a directory", path, filepath.Dir(abs))
	}
	uri := "file:" + (&url.URL{Path: abs}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)"
	w, err := sql.Open("sqlite", uri+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", uri+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	b := &Backend{path: abs, keep: o.Keep, bell: abs + "-wake", watch: watch, wl: newWriteLock(abs + "-lock"), w: w, r: r,
		seen: map[string]int64{}, stmts: map[string]*sql.Stmt{}, waitingQ: map[int]string{}}
	if err := b.migrate(ctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return b, nil
}

// migrate brings the schema of the file up to date: all of it in a new
// file, the migrations it lacks in an older one.
func (b *Backend) migrate(ctx context.Context) error {
	return b.write(ctx, func(tx *txn) error {
		var v int
		if err := tx.tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return err
		}
		switch {
		case v == schemaVersion:
			return nil
		case v > schemaVersion:
			return fmt.Errorf("schema version %d is newer than this stolos (%d)", v, schemaVersion)
		case v < 0:
			return fmt.Errorf("unknown schema version %d", v)
		case v == 0:
			var n int
			if err := tx.tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
				return err
			}
			if n != 0 {
				return errors.New("not a stolos database (it has tables but no schema version)")
			}
		}
		for i := v; i < schemaVersion; i++ {
			if _, err := tx.tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("schema version %d: %w", i+1, err)
			}
			if fn := migrated[i]; fn != nil {
				if err := fn(ctx, tx.tx); err != nil {
					return fmt.Errorf("schema version %d: %w", i+1, err)
				}
			}
		}
		_, err := tx.tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion))
		return err
	})
}

// Close closes the database.
func (b *Backend) Close() error {
	b.mu.Lock()
	for _, s := range b.stmts {
		s.Close()
	}
	b.stmts = map[string]*sql.Stmt{}
	b.mu.Unlock()
	b.wl.close()
	return errors.Join(b.w.Close(), b.r.Close())
}

// prepared returns q prepared on the write database, once per Backend.
func (b *Backend) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.stmts[q]; ok {
		return s, nil
	}
	s, err := b.w.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	b.stmts[q] = s
	return s, nil
}

// Path is the absolute path of the database file.
func (b *Backend) Path() string { return b.path }

// write runs fn in one write transaction, retrying the whole transaction
// while the database is busy, until ctx ends.
func (b *Backend) write(ctx context.Context, fn func(tx *txn) error) error {
	pause := time.Millisecond
	for {
		err := b.tryWrite(ctx, fn)
		if !isBusy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (database busy: %v)", ctx.Err(), err)
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

func (b *Backend) tryWrite(ctx context.Context, fn func(tx *txn) error) error {
	unlock, err := b.wl.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	start := time.Now()
	sqlTx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	tx := &txn{b: b, ctx: ctx, tx: sqlTx, now: time.Now().UnixNano(), touched: map[string]bool{}}
	defer tx.closeStmts()
	if b.txDone != nil {
		defer func() { b.txDone(tx.loads, time.Since(start)) }()
	}
	if err := fn(tx); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := tx.finish(); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return err
	}
	if len(tx.touched) > 0 {
		b.ring()
	}
	if len(tx.seen) > 0 {
		b.mu.Lock()
		for _, s := range tx.seen {
			b.seen[s.app] = s.gen
		}
		b.mu.Unlock()
	}
	return nil
}

// ring touches the doorbell file, waking the Waits of every process. It is
// best effort: the commit is done, and a Wait that misses the bell still
// ends at its deadline.
func (b *Backend) ring() {
	f, err := os.OpenFile(b.bell, os.O_WRONLY|os.O_CREATE, 0o666)
	if err == nil {
		f.Close()
	}
}

// isBusy reports whether err is SQLite's "database is busy" or "locked".
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// newToken returns a random lease token.
func newToken() (string, error) {
	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", fmt.Errorf("lease token: %w", err)
	}
	return hex.EncodeToString(buf[:]), nil
}
