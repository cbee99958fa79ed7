package sched

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// MaxWhy bounds the ancestors one Blockers walk reads; the rest are
// counted as not examined.
const MaxWhy = 500

// Blockers are what holds a pending job back, found by walking up its
// ancestors a level at a time (one batched Get per level). Each path runs
// from the job up to one blocker: a failed or skipped ancestor (Blocked),
// or one it waits for (Waiting): a queued or claimed ancestor, or an absent
// or unqueued pending one whose parents are all completed. A completed
// ancestor ends the walk up its path; an absent or unqueued pending one
// with parents not completed is walked past.
type Blockers struct {
	Blocked     [][]store.Job
	Waiting     [][]store.Job
	NotExamined int // ancestors past MaxWhy, not read
}

// Blockers walks up from pending job j (see type Blockers), with the
// walk of bubble-up (upWalk), reading at most MaxWhy ancestors.
func (s *Sched) Blockers(ctx context.Context, j store.Job, now time.Time) (Blockers, error) {
	var b Blockers
	start, err := s.Resolve(j.Ref)
	if err != nil {
		return b, err
	}
	w := &upWalk{s: s, St: map[store.Ref]store.Job{j.Ref: j}, Max: MaxWhy, Partial: true, Narrow: s.unseen}
	via := map[store.Ref]store.Ref{} // ancestor -> the job that led to it
	path := func(r store.Ref) []store.Job {
		n := 1
		for a := r; a != j.Ref; a = via[a] {
			n++
		}
		p := make([]store.Job, n)
		p[0] = j
		for ; r != j.Ref; r = via[r] {
			n--
			p[n] = w.St[r]
		}
		return p
	}
	err = w.run(ctx, []Job{start}, func(l *level) ([]Job, error) {
		for k, p := range l.Read {
			via[p.Ref()] = l.Jobs[l.From[k]].Ref()
		}
		// An absent or unqueued job whose parents are all completed is
		// itself what its child waits for.
		for i, c := range l.Jobs {
			if c.Ref() != j.Ref && !anyHeld(w.St, l.Parents[i]) {
				b.Waiting = append(b.Waiting, path(c.Ref()))
			}
		}
		var next []Job
		for i, p := range l.Got {
			switch {
			case p.State == store.Completed:
			case p.State == store.Failed || p.State == store.Skipped:
				b.Blocked = append(b.Blocked, path(p.Ref))
			case p.Queued || p.Claimed(now):
				b.Waiting = append(b.Waiting, path(p.Ref))
			default: // absent, or pending and not queued: walk past it
				next = append(next, l.Read[i])
			}
		}
		return next, nil
	})
	b.NotExamined = w.NotRead
	return b, err
}

// unseen is upWalk.Narrow for Blockers: the parents of j that its fan-in
// record has not seen completed, where it has one (store.Unseen).
func (s *Sched) unseen(ctx context.Context, j Job, parents []Job) ([]Job, bool, error) {
	u, ok, err := store.Unseen(ctx, s.b, j.Ref(), refs(parents))
	if err != nil || !ok {
		return nil, false, err
	}
	out := make([]Job, 0, len(u))
	k := 0
	for _, p := range parents {
		if k < len(u) && u[k] == p.Ref() {
			out = append(out, p)
			k++
		}
	}
	return out, true, nil
}

// String says what blocks the job in one phrase: the first failed or
// skipped ancestor, else the first one it waits for, with how many more
// there are; "" if none.
func (b Blockers) String(now time.Time) string {
	paths, blocked := b.Blocked, true
	if len(paths) == 0 {
		paths, blocked = b.Waiting, false
	}
	if len(paths) == 0 {
		if b.NotExamined > 0 {
			return fmt.Sprintf("%d ancestors not examined", b.NotExamined)
		}
		return ""
	}
	p := paths[0]
	a := p[len(p)-1]
	noun := "ancestor"
	if len(p) == 2 {
		noun = "parent"
	}
	var out string
	if blocked {
		out = fmt.Sprintf("blocked: %s %s %s %s", noun, a.App, a.JobID, a.State)
		if note := Record(a); note != "" {
			out += " (" + note + ")"
		}
	} else {
		st := string(a.State)
		switch {
		case a.State == store.Absent:
			st = "absent"
		case a.Claimed(now):
			st = "running on " + a.Owner
		}
		out = fmt.Sprintf("waiting for %s %s %s (%s)", noun, a.App, a.JobID, st)
	}
	if n := len(paths) - 1; n > 0 {
		out += fmt.Sprintf(", and %d more", n)
	}
	if b.NotExamined > 0 {
		out += fmt.Sprintf(" (%d more not examined)", b.NotExamined)
	}
	return out
}

// anyHeld says whether one of parents is not completed, or was not read.
func anyHeld(rec map[store.Ref]store.Job, parents []Job) bool {
	for _, r := range parents {
		if p, ok := rec[r.Ref()]; !ok || p.State != store.Completed {
			return true
		}
	}
	return false
}

// Record is what a job's record says of its attempts, for a person:
// "3 attempts; last: exit 1", "1 attempt", "last: exit 0", or "".
func Record(j store.Job) string {
	var why []string
	if j.Attempts > 0 {
		why = append(why, Plural(j.Attempts, "attempt"))
	}
	if j.Outcome != "" {
		why = append(why, "last: "+j.Outcome)
	}
	return strings.Join(why, "; ")
}

// Plural is n and noun, made plural unless n is 1: "1 attempt", "3
// attempts".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
