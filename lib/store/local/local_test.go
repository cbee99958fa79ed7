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
	if want := "open " + path + ": schema version 99 is newer than this stolos (1)"; err == nil || err.Error() != want {
		t.Fatalf("open newer schema: %v, want %s", err, want)
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
