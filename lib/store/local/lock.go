package local

import (
	"context"
	"os"
	"syscall"
)

// writeLock queues the writers of one database, in this process and in
// others, before they take SQLite's write lock. SQLite lets a writer that
// finds the database locked sleep and try again (1 ms, then 2, 5, 10 ...),
// however soon the lock is free: with several workers on one file, those
// sleeps were a tenth of the run. Waiting on flock(2) instead, a writer
// wakes as soon as the one before it is done. SQLite's own locking still
// decides what is safe; this only orders the writers, so a writer that
// does not take it (another program) is correct, only not queued.
type writeLock struct {
	sem chan struct{} // this process's writers, one at a time
	f   *os.File      // the lock file, nil if it could not be opened
}

func newWriteLock(path string) *writeLock {
	l := &writeLock{sem: make(chan struct{}, 1)}
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666); err == nil {
		l.f = f
	}
	return l
}

// lock waits for the lock until ctx ends, and returns its unlock.
func (l *writeLock) lock(ctx context.Context) (func(), error) {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if l.f == nil {
		return l.release, nil
	}
	fd := int(l.f.Fd())
	if syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		return l.unlock, nil
	}
	got := make(chan error, 1)
	go func() { got <- flock(fd, syscall.LOCK_EX) }()
	select {
	case err := <-got:
		if err != nil { // no queueing, then: SQLite still locks
			return l.release, nil
		}
		return l.unlock, nil
	case <-ctx.Done():
		go func() { // let the lock go once the kernel grants it
			if <-got == nil {
				_ = syscall.Flock(fd, syscall.LOCK_UN)
			}
			l.release()
		}()
		return nil, ctx.Err()
	}
}

func (l *writeLock) unlock() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.release()
}

func (l *writeLock) release() { <-l.sem }

func (l *writeLock) close() {
	if l.f != nil {
		l.f.Close()
	}
}

// flock is flock(2), again when a signal interrupts it.
func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}
