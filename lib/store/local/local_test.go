package local

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	if want := "open " + path + ": schema version 99 is newer than this stolos (2)"; err == nil || err.Error() != want {
		t.Fatalf("open newer schema: %v, want %s", err, want)
	}

	// A version 1 file (before fan-in records) is migrated, keeping its jobs.
	v1 := filepath.Join(dir, "v1.db")
	vdb, err := sql.Open("sqlite", v1)
	if err != nil {
		t.Fatal(err)
	}
	defer vdb.Close()
	if _, err := vdb.Exec(strings.TrimSuffix(schema, schema2) + "PRAGMA user_version = 1; INSERT INTO jobs (app, job_id, state) VALUES ('a', '1', 'completed');"); err != nil {
		t.Fatal(err)
	}
	b, err = Open(ctx, v1)
	if err != nil {
		t.Fatalf("open version 1: %v", err)
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
