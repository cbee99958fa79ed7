package local

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/storetest"
)

// harness gives each test a new SQLite file; the spec is its path.
func harness() storetest.Harness {
	return storetest.Harness{
		New: func(t testing.TB) string { return filepath.Join(t.TempDir(), "stolos.db") },
		Open: func(spec string) (store.Backend, error) {
			return Open(context.Background(), spec)
		},
	}
}

func TestMain(m *testing.M) {
	storetest.MaybeChild(harness())
	os.Exit(m.Run())
}

func TestConformance(t *testing.T) { storetest.Run(t, harness()) }

// BenchmarkLimits: claim and complete without and with limits
// (storetest), rounds of 100 jobs.
func BenchmarkLimits(b *testing.B) { storetest.BenchLimits(b, harness(), 100) }

// BenchmarkClaimAcross: claim and complete across two apps against app by
// app (storetest).
func BenchmarkClaimAcross(b *testing.B) { storetest.BenchClaimAcross(b, harness()) }

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "such", "stolos.db")
	if _, err := Open(context.Background(), missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("open in a missing directory: %v, want an error naming %s", err, missing)
	}
	notDB := filepath.Join(dir, "text")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), notDB); err == nil || !strings.Contains(err.Error(), notDB) {
		t.Fatalf("open a text file: %v, want an error naming %s", err, notDB)
	}
}

// TestSchemaVersion: a new file gets the schema version; a file from a newer
// stolos, or some other SQLite database, is refused with its path named.
func TestSchemaVersion(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "stolos.db")
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version %d %v, want %d", v, err, schemaVersion)
	}
	// Reopening keeps the data.
	b, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	b.Close()
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, path)
	if want := fmt.Sprintf("open %s: schema version 99 is newer than this stolos (%d)", path, schemaVersion); err == nil || err.Error() != want {
		t.Fatalf("open newer schema: %v, want %s", err, want)
	}

	// A version 2 file (before fan-in records) is migrated, keeping its jobs.
	v1 := filepath.Join(dir, "v2.db")
	vdb, err := sql.Open("sqlite", v1)
	if err != nil {
		t.Fatal(err)
	}
	defer vdb.Close()
	if _, err := vdb.Exec(strings.Join(migrations[:2], "") + "PRAGMA user_version = 2; INSERT INTO jobs (app, job_id, state) VALUES ('a', '1', 'completed');"); err != nil {
		t.Fatal(err)
	}
	b, err = Open(ctx, v1)
	if err != nil {
		t.Fatalf("open version 2: %v", err)
	}
	defer b.Close()
	if err := b.Complete(ctx, store.Lease{Ref: store.Ref{App: "a", JobID: "1"}}, "exit 0",
		[]store.Child{{Node: store.Node{Ref: store.Ref{App: "b", JobID: "1"}}, Parents: store.ParentList(store.Ref{App: "a", JobID: "1"})}}); err != nil {
		t.Fatalf("complete in a migrated file: %v", err)
	}
	if js, err := b.Get(ctx, []store.Ref{{App: "b", JobID: "1"}}); err != nil || js[0].State != store.Pending || !js[0].Queued {
		t.Fatalf("child in a migrated file: %+v %v, want pending and queued", js, err)
	}

	other := filepath.Join(dir, "other.db")
	odb, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	defer odb.Close()
	if _, err := odb.Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, other)
	if want := "open " + other + ": not a stolos database (it has tables but no schema version)"; err == nil || err.Error() != want {
		t.Fatalf("open other database: %v, want %s", err, want)
	}
}

// TestMigrateCounts: a file of schema version 1 (no counts) gets its
// apps' counts from its jobs when opened, and keeps them from then on.
func TestMigrateCounts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stolos.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(migrations[0] + `
INSERT INTO jobs (app, job_id, state, queued) VALUES
	('a', '1', 'pending', 1), ('a', '2', 'pending', 0), ('a', '3', 'completed', 0),
	('a', '4', 'failed', 0), ('a', '5', 'skipped', 0), ('b', '1', 'pending', 1);
INSERT INTO apps (app, gen) VALUES ('a', 7);
PRAGMA user_version = 1;`); err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// The head's age is zero for entries queued before schema 7 (no
	// queued_at); a new entry's is not (TestConformance/CountHeadAge).
	want := func(app string, w store.Counts) {
		t.Helper()
		c, err := b.Count(ctx, app)
		if w.HeadAge < 0 && c.HeadAge > 0 {
			c.HeadAge = w.HeadAge
		}
		if err != nil || !reflect.DeepEqual(c, w) {
			t.Fatalf("count %s: %+v %v, want %+v", app, c, err, w)
		}
	}
	want("a", store.Counts{States: map[store.State]int{store.Pending: 2, store.Completed: 1, store.Failed: 1, store.Skipped: 1}, Queued: 1})
	want("b", store.Counts{States: map[store.State]int{store.Pending: 1}, Queued: 1})
	if g, err := b.readGen(ctx, "a"); err != nil || g != 7 {
		t.Fatalf("generation of a: %d %v, want 7 (kept)", g, err)
	}
	if _, err := b.Submit(ctx, []store.SubmitItem{{Node: store.Node{Ref: store.Ref{App: "a", JobID: "6"}}}}); err != nil {
		t.Fatal(err)
	}
	want("a", store.Counts{States: map[store.State]int{store.Pending: 3, store.Completed: 1, store.Failed: 1, store.Skipped: 1}, Queued: 2, HeadAge: -1})
}

// TestCountPlan: Count reads the apps table and index ranges, never the
// app's jobs one by one (which would make it O(jobs)), with a time as
// Count gives it (with 0, the plan used the index and Count at 1M jobs
// still took a second).
func TestCountPlan(t *testing.T) {
	b, err := Open(context.Background(), filepath.Join(t.TempDir(), "stolos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rs, err := b.r.Query("EXPLAIN QUERY PLAN "+countQuery, "a", time.Now().UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var plan []string
	for rs.Next() {
		var id, parent, notused int
		var detail string
		if err := rs.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(plan, "\n")
	for _, want := range []string{
		"SEARCH jobs USING COVERING INDEX jobs_wake (app=? AND wake>?)",
		"SEARCH jobs USING INDEX jobs_held (app=? AND lease_until>?)",
		"SEARCH a USING PRIMARY KEY (app=?)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("count's plan lacks %q:\n%s", want, got)
		}
	}
}

// TestWaitPolling: without inotify (outside Linux) Wait polls, and another
// instance's submit, made once the Wait sleeps, wakes it at a later tick.
func TestWaitPolling(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stolos.db")
	b1, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b1.Close()
	b2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	// The ticks pass through an unbuffered channel: once one is taken, the
	// Wait has read the queue generation and sleeps.
	slept := make(chan struct{})
	b1.watch = func(p string) (<-chan error, func(), error) {
		ticks, stop, err := pollWatch(p)
		out, done := make(chan error), make(chan struct{})
		go func() {
			for first := true; ; first = false {
				select {
				case v := <-ticks:
					select {
					case out <- v:
					case <-done:
						return
					}
				case <-done:
					return
				}
				if first {
					close(slept)
				}
			}
		}()
		return out, func() { stop(); close(done) }, err
	}
	if r, err := b1.Claim(ctx, store.ClaimRequest{App: "q", Owner: "w1", N: 1, Lease: time.Minute}); err != nil || len(r.Leases) != 0 {
		t.Fatalf("claim: %+v, %v; want nothing", r, err)
	}
	ch := make(chan error, 1)
	go func() { ch <- b1.Wait(ctx, "q", time.Now().Add(time.Hour)) }()
	select {
	case <-slept:
	case err := <-ch:
		t.Fatalf("wait returned before any submit: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("wait: no tick in a minute")
	}
	if _, err := b2.Submit(ctx, []store.SubmitItem{{Node: store.Node{Ref: store.Ref{App: "q", JobID: "1"}}, Priority: 100}}); err != nil {
		t.Fatalf("submit: %v", err)
	}
	select {
	case err := <-ch:
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("wait: not woken a minute after the submit")
	}
}

// TestFanInBuildBounded: the fan-in record of a child of 5,000 parents,
// 4,000 of them completed before it needed one, is built in write
// transactions that each read at most store.Batch parents (plus the job
// and its child); the record is finished by the completion's next steps,
// another parent's completion does not queue the child early, and the
// last parent's completion queues it once.
func TestFanInBuildBounded(t *testing.T) {
	ctx := context.Background()
	b, err := Open(ctx, filepath.Join(t.TempDir(), "stolos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const n = 5000
	parents := make([]store.Ref, n)
	items := make([]store.SubmitItem, n)
	for i := range parents {
		parents[i] = store.Ref{App: "p", JobID: fmt.Sprint(i)}
		items[i] = store.SubmitItem{Node: store.Node{Ref: parents[i]}, Priority: 100}
	}
	if _, err := b.Submit(ctx, items); err != nil {
		t.Fatal(err)
	}
	for _, p := range parents[:n-1000] {
		if err := b.Complete(ctx, store.Lease{Ref: p}, "exit 0", nil); err != nil {
			t.Fatal(err)
		}
	}
	c := store.Child{Node: store.Node{Ref: store.Ref{App: "c", JobID: "1"}}, Parents: store.ParentList(parents...)}
	most, txns := 0, 0
	b.txDone = func(loads int, _ time.Duration) { most, txns = max(most, loads), txns+1 }
	for i, p := range parents[n-1000:] {
		if err := b.Complete(ctx, store.Lease{Ref: p}, "exit 0", []store.Child{c}); err != nil {
			t.Fatal(err)
		}
		j, err := b.Get(ctx, []store.Ref{c.Ref})
		if err != nil {
			t.Fatal(err)
		}
		want := store.Job{Ref: c.Ref}
		if i == 999 {
			want = store.Job{Ref: c.Ref, State: store.Pending, Queued: true, Priority: 100}
		}
		if !reflect.DeepEqual(j[0], want) {
			t.Fatalf("after %d completions: child %+v, want %+v", i+1, j[0], want)
		}
	}
	t.Logf("%d write transactions, at most %d jobs read in one", txns, most)
	if most > store.Batch+2 {
		t.Errorf("a write transaction read %d jobs, want at most store.Batch (%d) + 2", most, store.Batch)
	}
	if refs, err := b.Unfinished(ctx, 0, 10); err != nil || len(refs) != 0 {
		t.Errorf("unfinished: %v %v, want none", refs, err)
	}
}

// TestMigrateHistory: a file of schema version 6 (the history as a ring
// keyed by job and slot, with an index on the end) keeps its attempts when
// opened: a job's, oldest first, and an app's by end; the next record
// drops the oldest past the retention.
func TestMigrateHistory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v6.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(strings.Join(migrations[:6], "") + `PRAGMA user_version = 6;
INSERT INTO jobs (app, job_id, state, queued, tries) VALUES ('a', '1', 'pending', 1, 3), ('a', '2', 'completed', 0, 1);
INSERT INTO attempts (app, job_id, slot, seq, started, ended, worker, outcome, log) VALUES
	('a', '1', 1, 1, 100, 200, 'w1', 'exit 3', 'h:/l/1.log'),
	('a', '1', 2, 2, 300, 400, 'w2', 'exit 3', ''),
	('a', '2', 1, 1, 250, 350, 'w3', 'exit 0', 'h:/l/2.log'),
	('a', '1', 0, 3, 500, 600, 'w1', 'abandoned: worker w1 lost', '');`); err != nil {
		t.Fatal(err)
	}
	b, err := OpenWith(ctx, path, Options{Keep: 3})
	if err != nil {
		t.Fatalf("open version 6: %v", err)
	}
	defer b.Close()
	at := func(ref store.Ref, seq, start, end int64, worker, outcome, log string) store.Attempt {
		return store.Attempt{Ref: ref, Seq: seq, Start: time.Unix(0, start), End: time.Unix(0, end), Worker: worker, Outcome: outcome, Log: log}
	}
	j1, j2 := store.Ref{App: "a", JobID: "1"}, store.Ref{App: "a", JobID: "2"}
	want := [][]store.Attempt{
		{at(j1, 1, 100, 200, "w1", "exit 3", "h:/l/1.log"), at(j1, 2, 300, 400, "w2", "exit 3", ""), at(j1, 3, 500, 600, "w1", "abandoned: worker w1 lost", "")},
		{at(j2, 1, 250, 350, "w3", "exit 0", "h:/l/2.log")},
	}
	if got, err := b.History(ctx, []store.Ref{j1, j2}); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("history after the migration:\n got %v %v\nwant %v", got, err, want)
	}
	var app []int64
	if err := b.AppHistory(ctx, "a", time.Unix(0, 0), time.Time{}, func(a store.Attempt) error {
		app = append(app, a.End.UnixNano())
		return nil
	}); err != nil || !reflect.DeepEqual(app, []int64{200, 350, 400, 600}) {
		t.Fatalf("app history after the migration: %v %v, want ends 200 350 400 600", app, err)
	}
	// Attempt 4 pushes attempt 1 out (three kept).
	r, err := b.Claim(ctx, store.ClaimRequest{App: "a", Owner: "w4", N: 1, Lease: time.Minute})
	if err != nil || len(r.Leases) != 1 || r.Leases[0].Seq != 4 {
		t.Fatalf("claim: %+v %v, want attempt 4", r, err)
	}
	if _, err := b.Fail(ctx, r.Leases[0], "exit 1", 5, 0); err != nil {
		t.Fatal(err)
	}
	got, err := b.History(ctx, []store.Ref{j1})
	if err != nil || len(got[0]) != 3 || got[0][0].Seq != 2 || got[0][2].Seq != 4 || got[0][2].Outcome != "exit 1" {
		t.Fatalf("history after attempt 4: %v %v, want attempts 2 to 4", got, err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM history WHERE app = 'a' AND job_id = '1'").Scan(&n); err != nil || n != 3 {
		t.Fatalf("records of a 1: %d %v, want 3", n, err)
	}
}
