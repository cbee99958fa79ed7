package zookeeper

import (
	"context"
	"fmt"
	"time"
)

// Leases are measured by the clients' clocks (see the package doc), so a
// client whose clock is off could take a job whose holder's command still
// runs. A worker stops its command an eighth of the lease before the lease
// ends (its lease margin, a quarter, less its grace, at most an eighth),
// timed by its own monotonic clock; two clients each within a sixteenth
// of the lease of the server's clock are within an eighth of each other,
// so neither can see the other's lease end before that command is dead.
// Before a claim, an acquire or a renewal, a backend compares its clock
// with the server's (the mtime of a write to the node clock, which the
// server stamps) and refuses when they differ by more than a sixteenth of
// the lease. A measurement is trusted for clockCheckEvery.
const clockCheckEvery = 10 * time.Second

// clockPath is the node whose writes measure the clocks.
func (p paths) clock() string { return p.root + "/clock" }

// checkClock fails if this host's clock and the server's differ by more
// than a sixteenth of lease, measuring them again if the last measurement
// is older than clockCheckEvery.
func (b *Backend) checkClock(ctx context.Context, lease time.Duration) error {
	b.mu.Lock()
	skew, at := b.skew, b.skewAt
	b.mu.Unlock()
	if at.IsZero() || time.Since(at) > clockCheckEvery {
		var err error
		if skew, err = b.measureClock(ctx); err != nil {
			return err
		}
		b.mu.Lock()
		b.skew, b.skewAt = skew, time.Now()
		b.mu.Unlock()
	}
	limit := lease / 16
	if skew <= limit && skew >= -limit {
		return nil
	}
	way := "ahead of"
	if skew < 0 {
		skew, way = -skew, "behind"
	}
	return fmt.Errorf("zookeeper %s: this host's clock is at least %v %s the server's, more than %v (a sixteenth of the %v lease): refusing to take leases; synchronize it (NTP)", b.hosts, skew, way, limit, lease)
}

// measureClock writes the clock node and returns by how much this host's
// clock (b.clock) is at least ahead of the server's (negative: behind):
// the server stamped the write's mtime between the request and its answer.
func (b *Backend) measureClock(ctx context.Context) (time.Duration, error) {
	path := b.p.clock()
	if err := b.ensure(ctx, path); err != nil {
		return 0, err
	}
	var before, after, mtime int64
	err := b.retry(ctx, func() error {
		before = b.now()
		st, err := b.conn.Set(path, nil, -1)
		after = b.now()
		if err == nil {
			mtime = st.Mtime
		}
		return err
	})
	if err != nil {
		return 0, b.wrap(path, err)
	}
	switch {
	case mtime < before:
		return time.Duration(before-mtime) * time.Millisecond, nil
	case mtime > after:
		return -time.Duration(mtime-after) * time.Millisecond, nil
	}
	return 0, nil
}
