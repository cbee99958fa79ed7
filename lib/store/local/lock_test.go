package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store/storetest"
)

// holder is another holder of a lock file: its own open file description,
// as another process has.
func holder(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// held returns a writeLock, closed when the test ends, whose lock file
// another holder holds, and a third to probe it with.
func held(t *testing.T) (l *writeLock, other, probe *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db-lock")
	l = newWriteLock(path)
	t.Cleanup(l.close)
	other, probe = holder(t, path), holder(t, path)
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return l, other, probe
}

// free reports whether nobody holds the lock file (tried with f).
func free(f *os.File) bool {
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWriteLockQueues: a writer waits while another holds the lock file,
// gets it when it is let go, and holds it until it unlocks.
func TestWriteLockQueues(t *testing.T) {
	l, other, probe := held(t)
	got := make(chan func(), 1)
	go func() {
		unlock, err := l.lock(context.Background())
		if err != nil {
			t.Errorf("lock: %v", err)
		}
		got <- unlock
	}()
	select {
	case <-got:
		t.Fatal("lock returned while another holder held the file")
	default:
	}
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	unlock := <-got
	if free(probe) {
		t.Fatal("the lock file is free while the writer holds it")
	}
	unlock()
	if !free(probe) {
		t.Fatal("the lock file is held after unlock")
	}
}

// TestWriteLockCanceled: a writer whose context ends while it waits gets
// the context's error, and the lock it was still waiting for is let go
// once granted, in this process and in others.
func TestWriteLockCanceled(t *testing.T) {
	l, other, probe := held(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := l.lock(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("lock with a canceled context: %v, want %v", err, context.Canceled)
	}
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the abandoned lock is let go", func() bool { return free(probe) })
	unlock, err := l.lock(context.Background())
	if err != nil {
		t.Fatalf("lock after a canceled one: %v", err)
	}
	unlock()

	// A writer of this process waits for another of this process too.
	unlock, err = l.lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := l.lock(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("second lock in one process with a canceled context: %v", err)
	}
	unlock()
}

// TestWriteLockNoFile: without a lock file (a read-only directory) writers
// are still serialized in the process, and SQLite's locking does the rest.
func TestWriteLockNoFile(t *testing.T) {
	l := newWriteLock(filepath.Join(t.TempDir(), "missing", "db-lock"))
	defer l.close()
	if l.f != nil {
		t.Fatal("opened a lock file in a missing directory")
	}
	unlock, err := l.lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.lock(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("second lock with a canceled context: %v", err)
	}
	unlock()
}

// A writer that holds the database and stopped (a paused process) blocks
// no call past the deadline it was given.
func TestStalledWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stolos.db")
	b, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	other := holder(t, path+"-lock")
	storetest.Stalled(t, b, func() {
		if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
	}, func() { _ = syscall.Flock(int(other.Fd()), syscall.LOCK_UN) })
}
