package sched

import (
	"context"

	"github.com/stolos-sched/stolos/lib/store"
)

// upWalk is a walk up a job's ancestors a level at a time, the one walk
// of bubble-up (above: what to queue) and of why (Blockers: what holds a
// job back). Each level's jobs' parents are computed, those not read
// before are read with one batched Get, and the caller's step decides,
// from their states, which of them make the next level.
type upWalk struct {
	s *Sched
	// St holds the state of every job read so far (and any the caller
	// knew before the walk).
	St map[store.Ref]store.Job
	// Max bounds the jobs the walk reads. Partial: a level whose new
	// parents pass it has its first ones read, up to Max (and the levels
	// after it none: their parents are only counted); otherwise such a
	// level reads nothing and the walk ends there (step is called with
	// Cut set).
	Max     int
	Partial bool
	// NotRead counts the parents met and not read (past Max).
	NotRead int
	read    int
}

// level is one level of an upWalk: its jobs, each one's parents, and the
// parents read for it (not read before), in order.
type level struct {
	Jobs    []Job
	Parents [][]Job
	Read    []Job // the new parents read, as Got
	Got     []store.Job
	Cut     bool // Max was reached: parents of this level were not read
}

// run walks up from the jobs of first: step is called once per level and
// returns the next level's jobs (none ends the walk).
func (w *upWalk) run(ctx context.Context, first []Job, step func(l *level) ([]Job, error)) error {
	if w.St == nil {
		w.St = map[store.Ref]store.Job{}
	}
	jobs := first
	for len(jobs) > 0 {
		l := &level{Jobs: jobs, Parents: make([][]Job, len(jobs))}
		queued := map[store.Ref]bool{}
		var todo []Job
		for i, j := range jobs {
			l.Parents[i] = w.s.Parents(j)
			for _, p := range l.Parents[i] {
				r := p.Ref()
				if _, ok := w.St[r]; !ok && !queued[r] {
					queued[r] = true
					todo = append(todo, p)
				}
			}
		}
		if left := w.Max - w.read; len(todo) > left {
			l.Cut = true
			n := 0
			if w.Partial {
				n = left
			}
			w.NotRead += len(todo) - n
			todo = todo[:n]
		}
		if len(todo) > 0 {
			got, err := w.s.b.Get(ctx, refs(todo))
			if err != nil {
				return err
			}
			w.read += len(todo)
			for _, g := range got {
				w.St[g.Ref] = g
			}
			l.Read, l.Got = todo, got
		}
		next, err := step(l)
		if err != nil || l.Cut && !w.Partial {
			return err
		}
		jobs = next
	}
	return nil
}
