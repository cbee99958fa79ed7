package state

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// followPoll is how often -follow reads the running attempt's log and
// asks whether the attempt ended.
const followPoll = 200 * time.Millisecond

// follow copies to standard output the log of job j's running attempt, as
// it grows, until the attempt ends (the job is no longer claimed, or its
// history records the attempt), then the rest; a job not running gets its
// latest recorded attempt's log, as -log. The running attempt has no
// record yet: its log is the highest-numbered SEQ.log in the job's log
// folder (sched.LogPath) above the last recorded attempt, on this
// machine. An interrupt (the end of ctx) ends it without error.
func (w *writer) follow(ctx context.Context, j sched.Job) error {
	name := j.App.Name + " " + j.ID
	job, err := w.s.Get(ctx, j.Ref())
	if err != nil {
		return err
	}
	if !job.Claimed(time.Now()) {
		return w.log(ctx, j, 0)
	}
	last, err := w.lastSeq(ctx, j)
	if err != nil {
		return err
	}
	if w.logDir == "" {
		return fmt.Errorf("%s: -follow needs a -log-dir, not -", name)
	}
	dir := sched.JobLogDir(w.logDir, j.App.Name, j.ID)
	seq := int64(0)
	names, _ := os.ReadDir(dir)
	for _, e := range names {
		if n, ok := sched.LogSeq(e.Name()); ok && n > last && n > seq {
			seq = n
		}
	}
	if seq == 0 {
		return fmt.Errorf("%s: no log of its running attempt (after attempt %d) in %s on this host", name, last, dir)
	}
	path := sched.LogPath(w.logDir, j.App.Name, j.ID, seq)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s attempt %d: %v", name, seq, err)
	}
	defer f.Close()
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	for {
		// Ask first, copy next: what the attempt wrote before it ended is
		// in the file once the end shows.
		ended, err := w.ended(ctx, j, seq)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := io.Copy(w.t.Stdout, f); err != nil {
			return fmt.Errorf("%s attempt %d: %v", name, seq, err)
		}
		if err := w.t.Stdout.Flush(); err != nil {
			return err
		}
		if ended {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// lastSeq is the number of j's latest recorded attempt, 0 for none.
func (w *writer) lastSeq(ctx context.Context, j sched.Job) (int64, error) {
	hs, err := w.s.History(ctx, []store.Ref{j.Ref()})
	if err != nil {
		return 0, err
	}
	if as := hs[0]; len(as) > 0 {
		return as[len(as)-1].Seq, nil
	}
	return 0, nil
}

// ended tells whether j's attempt seq ended: j is no longer claimed, or
// its history records attempt seq or a later one.
func (w *writer) ended(ctx context.Context, j sched.Job, seq int64) (bool, error) {
	job, err := w.s.Get(ctx, j.Ref())
	if err != nil {
		return false, err
	}
	if !job.Claimed(time.Now()) {
		return true, nil
	}
	hs, err := w.s.History(ctx, []store.Ref{j.Ref()})
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(hs[0], func(a store.Attempt) bool { return a.Seq >= seq }), nil
}

// exists tells whether path names a file.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
