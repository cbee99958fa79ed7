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
	// Narrow, if set, is asked about each job of more than narrowFrom
	// parents: which of them may not be completed (ok); the others are
	// taken as completed, and not read.
	Narrow func(ctx context.Context, j Job, parents []Job) (maybe []Job, ok bool, err error)
	// NotRead counts the parents met and not read (past Max).
	NotRead int
	read    int
}

// narrowFrom is the number of parents past which upWalk asks Narrow.
const narrowFrom = 100

// level is one level of an upWalk: its jobs, each one's parents, and the
// parents read for it (not read before), in order.
type level struct {
	Jobs    []Job
	Parents [][]Job
	Read    []Job // the new parents read, as Got
	Got     []store.Job
	From    []int // for each one read, the index in Jobs of the first job it is a parent of
	Cut     bool  // Max was reached: parents of this level were not read
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
		var from []int
		for i, j := range jobs {
			l.Parents[i] = w.s.Parents(j)
			toRead := l.Parents[i]
			if w.Narrow != nil && len(toRead) > narrowFrom {
				maybe, ok, err := w.Narrow(ctx, j, toRead)
				if err != nil {
					return err
				}
				if ok {
					w.assumeCompleted(toRead, maybe)
					toRead = maybe
				}
			}
			for _, p := range toRead {
				r := p.Ref()
				if _, ok := w.St[r]; !ok && !queued[r] {
					queued[r] = true
					todo = append(todo, p)
					from = append(from, i)
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
			todo, from = todo[:n], from[:n]
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
			l.Read, l.Got, l.From = todo, got, from
		}
		next, err := step(l)
		if err != nil || l.Cut && !w.Partial {
			return err
		}
		jobs = next
	}
	return nil
}

// assumeCompleted records the parents not in maybe (a subsequence of
// parents) as completed, unless they were read.
func (w *upWalk) assumeCompleted(parents, maybe []Job) {
	k := 0
	for _, p := range parents {
		if k < len(maybe) && maybe[k].Ref() == p.Ref() {
			k++
			continue
		}
		if _, ok := w.St[p.Ref()]; !ok {
			w.St[p.Ref()] = store.Job{Ref: p.Ref(), State: store.Completed}
		}
	}
}
