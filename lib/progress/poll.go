package progress

import (
	"context"
	"slices"
	"time"

	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// Chunk is the most jobs one Get of a poll reads: a poll of a larger set
// is several Gets, so that what it holds at once stays bounded.
const Chunk = 10_000

// Window is the span over which the rate is the number of completions
// per minute.
const Window = 10 * time.Minute

// poller reads the set's states, one poll at a time, and keeps what the
// rate needs: the status of each job at the last poll and the times of
// the completions within the window.
type poller struct {
	s    *sched.Sched
	st   *set
	apps []string // the apps of the set, in configuration order
	app  []int    // the index in apps of each job's app

	prev  []Status            // nil before the first poll
	times []time.Time         // completions seen, oldest first
	ends  map[int32]store.Job // the failed and skipped jobs at the last poll
}

func newPoller(s *sched.Sched, st *set) *poller {
	p := &poller{s: s, st: st, app: make([]int, len(st.refs))}
	in := map[string]bool{}
	for _, r := range st.refs {
		in[r.App] = true
	}
	pos := map[string]int{}
	for _, a := range s.Cfg.Apps {
		if in[a.Name] {
			pos[a.Name] = len(p.apps)
			p.apps = append(p.apps, a.Name)
		}
	}
	for i, r := range st.refs {
		p.app[i] = pos[r.App]
	}
	return p
}

// poll reads every job of the set (in Gets of Chunk jobs), classifies
// them, and returns their statuses and, for each blocked one, what blocks
// it (classify's via). The first poll reads the history of the completed
// jobs for the times of their completions; later ones take a job seen
// completed for the first time as completed at now.
func (p *poller) poll(ctx context.Context, now time.Time) ([]Status, []int32, error) {
	n := len(p.st.refs)
	status := make([]Status, n)
	ends := map[int32]store.Job{}
	for lo := 0; lo < n; lo += Chunk {
		hi := min(lo+Chunk, n)
		jobs, err := p.s.GetAll(ctx, p.st.refs[lo:hi])
		if err != nil {
			return nil, nil, err
		}
		for k, j := range jobs {
			i := lo + k
			status[i] = base(j, now)
			if status[i] == Failed || status[i] == Skipped {
				ends[int32(i)] = j
			}
		}
	}
	via := p.st.classify(status)
	if err := p.completions(ctx, status, now); err != nil {
		return nil, nil, err
	}
	p.prev, p.ends = status, ends
	return status, via, nil
}

// completions records the times of the completions new since the last
// poll.
func (p *poller) completions(ctx context.Context, status []Status, now time.Time) error {
	if p.prev != nil {
		for i, s := range status {
			if s == Completed && p.prev[i] != Completed {
				p.times = append(p.times, now)
			}
		}
		return nil
	}
	var done []store.Ref
	for i, s := range status {
		if s == Completed {
			done = append(done, p.st.refs[i])
		}
	}
	since := now.Add(-Window)
	for lo := 0; lo < len(done); lo += Chunk {
		hist, err := p.s.History(ctx, done[lo:min(lo+Chunk, len(done))])
		if err != nil {
			return err
		}
		for _, h := range hist {
			// The last attempt of a completed job is the one that
			// completed it, unless stolos-state -set completed it
			// (then it counts as completed when that attempt ended:
			// the rate is an estimate).
			if len(h) > 0 && h[len(h)-1].End.After(since) {
				p.times = append(p.times, h[len(h)-1].End)
			}
		}
	}
	slices.SortFunc(p.times, func(a, b time.Time) int { return a.Compare(b) })
	return nil
}

// perMinute is the rate of completions at now: those within the window,
// per minute of the span from the oldest of them (at least a minute, at
// most the window) to now.
func (p *poller) perMinute(now time.Time) float64 {
	since := now.Add(-Window)
	k := 0
	for k < len(p.times) && !p.times[k].After(since) {
		k++
	}
	p.times = p.times[k:]
	if len(p.times) == 0 {
		return 0
	}
	span := min(max(now.Sub(p.times[0]), time.Minute), Window)
	return float64(len(p.times)) / span.Minutes()
}
