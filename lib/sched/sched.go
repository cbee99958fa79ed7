// Package sched joins the graph to a job-state backend: it turns jobs into
// the nodes, children and parents that lib/store operations take, claims
// runnable jobs with bubble-up, completes jobs with bubble-down, and
// explains why a pending job waits. It is the only way a tool reaches job
// state: it opens the backend (Setup), names the lease holder, and owns
// the lease default and the retry policy, so the scheduling rules live in
// one place.
package sched

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/command"
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/graph"
	"github.com/stolos-sched/stolos/lib/runner"
	"github.com/stolos-sched/stolos/lib/store"
)

// Sched is a config and a backend (New, Setup.Open).
type Sched struct {
	Cfg *config.Config
	b   store.Backend // the tools reach it only through Sched
	// Environ is the environment of valid_if_or _func commands.
	Environ []string
	// Warnf, if set, reports what goes wrong beside the caller's work
	// (resuming another worker's bubble-down).
	Warnf func(format string, args ...any)

	// WaitSlots: a claim held back by a full limit (max_running, a
	// pool) waits for a slot even past its wait (stolos-exec -loop: the
	// queue is not empty).
	WaitSlots bool

	mu      sync.Mutex
	resumed time.Time         // when claim last looked for unfinished bubble-downs
	slots   map[string]string // Slots' answers, by app (read once per Sched)
}

// DefaultMaxRetry is the max_retry of an app that sets none, unless
// stolos-exec -max-retry says otherwise.
const DefaultMaxRetry = 5

// MaxRetry is app a's max_retry, or def if it sets none.
func MaxRetry(a *config.App, def int) int {
	if a.Exec.MaxRetry < 0 {
		return def
	}
	return a.Exec.MaxRetry
}

// Job is a job resolved against the config.
type Job struct {
	App  *config.App
	ID   string   // canonical
	Vals []string // identifier values, in template order
}

// Ref names the job for the backend.
func (j Job) Ref() store.Ref { return store.Ref{App: j.App.Name, JobID: j.ID} }

// Resolve parses a job id of an app.
func (s *Sched) Resolve(ref store.Ref) (Job, error) {
	a, id, vals, err := s.Cfg.Resolve(ref.App, ref.JobID)
	if err != nil {
		return Job{}, err
	}
	return Job{a, id, vals}, nil
}

// ResolveRecord resolves an input record (for cli.Jobs).
func (s *Sched) ResolveRecord(r cli.Record) (Job, error) {
	return s.Resolve(store.Ref{App: r.App, JobID: r.JobID})
}

func (s *Sched) rel(r graph.Rel) Job {
	vals, err := r.App.Parser.Parse(r.JobID)
	if err != nil {
		// The graph only makes job ids that parse: this is a bug.
		panic(fmt.Sprintf("graph made job id %q of %s that does not parse: %v", r.JobID, r.App.Name, err))
	}
	return Job{r.App, r.JobID, vals}
}

// Parents returns the distinct parents of a job, in graph order.
func (s *Sched) Parents(j Job) []Job { return s.distinct(graph.Parents(nil, j.App, j.Vals)) }

// Children returns the distinct children of a job, in graph order.
func (s *Sched) Children(j Job) []Job { return s.distinct(graph.Children(nil, j.App, j.Vals)) }

func (s *Sched) distinct(rels []graph.Rel) []Job {
	out := make([]Job, 0, len(rels))
	seen := make(map[store.Ref]bool, len(rels))
	for _, r := range rels {
		ref := store.Ref{App: r.App.Name, JobID: r.JobID}
		if !seen[ref] {
			seen[ref] = true
			out = append(out, s.rel(r))
		}
	}
	return out
}

// Descendants returns every descendant of a job once, parents before
// children (a reverse post-order of the walk down; siblings in graph
// order): the order in which a readd resets them (store.SubmitItem). They
// are held in memory, about 100 bytes each with the set that finds each
// once, which a walk of a graph with shared descendants needs anyway.
func (s *Sched) Descendants(j Job) []store.Ref {
	type frame struct {
		ref  store.Ref
		kids []Job // walked from the last, so that the reverse lists them first to last
	}
	var post []store.Ref
	seen := map[store.Ref]bool{j.Ref(): true}
	stack := []frame{{ref: j.Ref(), kids: s.Children(j)}}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if len(f.kids) == 0 {
			if len(stack) > 1 {
				post = append(post, f.ref)
			}
			stack = stack[:len(stack)-1]
			continue
		}
		c := f.kids[len(f.kids)-1]
		f.kids = f.kids[:len(f.kids)-1]
		if ref := c.Ref(); !seen[ref] {
			seen[ref] = true
			stack = append(stack, frame{ref: ref, kids: s.Children(c)})
		}
	}
	slices.Reverse(post)
	return post
}

// Node is the job as the backend may have to create it: skipped if its
// app's valid_if_or says so.
func (s *Sched) Node(ctx context.Context, j Job) (store.Node, error) {
	valid, needFunc := graph.Valid(j.App, j.Vals)
	if needFunc {
		var err error
		if valid, err = s.validFunc(ctx, j); err != nil {
			return store.Node{}, err
		}
	}
	return store.Node{Ref: j.Ref(), Skip: !valid}, nil
}

// validFunc runs an app's valid_if_or _func command with /bin/sh: exit 0
// means valid, exit 1 invalid; anything else is an error. The command sees
// command.DescribeJob's variables and one variable per identifier.
func (s *Sched) validFunc(ctx context.Context, j Job) (bool, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", j.App.ValidIfOr.Func)
	cmd.Env = append(append([]string{}, s.Environ...), JobEnv(j)...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := runner.StartTied(cmd) // it dies with this process
	if err == nil {
		err = cmd.Wait()
	}
	out := buf.Bytes()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return false, nil
	}
	msg := strings.TrimSpace(string(out))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return false, fmt.Errorf("%s %s: valid_if_or _func %q: %v %s", j.App.Name, j.ID, j.App.ValidIfOr.Func, err, msg)
}

// JobEnv is the environment that describes a job to a command.
func JobEnv(j Job) []string {
	env := command.DescribeJob(j.App.Name, j.ID)
	for i, k := range j.App.Template.Idents {
		env = append(env, k+"="+j.Vals[i])
	}
	return env
}

// Nodes makes the nodes of several jobs.
func (s *Sched) Nodes(ctx context.Context, jobs []Job) ([]store.Node, error) {
	out := make([]store.Node, len(jobs))
	for i, j := range jobs {
		n, err := s.Node(ctx, j)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// BubbleDown lists the children of a job, for store.Backend.Complete. A
// child's parents are computed only if the backend asks for them (once),
// so that a completion does not cost the width of its children's fan-in.
func (s *Sched) BubbleDown(ctx context.Context, j Job) ([]store.Child, error) {
	kids := s.Children(j)
	out := make([]store.Child, len(kids))
	for i, c := range kids {
		n, err := s.Node(ctx, c)
		if err != nil {
			return nil, err
		}
		out[i] = store.Child{Node: n, Parents: s.lazyParents(c)}
	}
	return out, nil
}

// lazyParents returns a function that computes the parents of j the first
// time it is called.
func (s *Sched) lazyParents(j Job) func() []store.Ref {
	return sync.OnceValue(func() []store.Ref { return refs(s.Parents(j)) })
}

// Complete marks a job completed (under its lease, or with a zero token
// whatever the lease) and queues the children it unblocks.
func (s *Sched) Complete(ctx context.Context, l store.Lease, outcome string) error {
	kids, err := s.children(ctx, l)
	if err != nil {
		return err
	}
	return s.completeReadd(ctx, s.b.Complete(ctx, l, outcome, kids), l, outcome, kids)
}

// children is what Backend.Complete needs of the children of l's job.
func (s *Sched) children(ctx context.Context, l store.Lease) ([]store.Child, error) {
	j, err := s.Resolve(l.Ref)
	if err != nil {
		return nil, err
	}
	return s.BubbleDown(ctx, j)
}

// Completion is a successful attempt that a worker records with its next
// claim (CompleteClaim).
type Completion struct {
	Lease   store.Lease
	Outcome string
}

// Parked reports a claimed job that was not handed out: it went back to
// wait for its parents, or (Failed) its job id no longer parses under the
// app's template, or its abandoned attempts reached max_retry, and it was
// failed.
type Parked struct {
	Ref    store.Ref
	Reason string
	Failed bool
}

// String words the report for stderr.
func (p Parked) String() string {
	if p.Failed {
		return fmt.Sprintf("%s %s: failed: %s", p.Ref.App, p.Ref.JobID, p.Reason)
	}
	return fmt.Sprintf("%s %s: not runnable yet, %s", p.Ref.App, p.Ref.JobID, p.Reason)
}

// Claim takes up to req.N runnable jobs. A claimed job whose parents are not
// all completed is parked (bubble-up: its missing parents are queued, and
// the completion of its last parent queues it again) and not handed out.
// With wait > 0 it blocks up to wait for work to arrive. got is called for
// each job as it is claimed (in order); parked for each job parked.
func (s *Sched) Claim(ctx context.Context, req store.ClaimRequest, wait time.Duration, got func(store.Lease) error, parked func(Parked)) (int, error) {
	return s.claim(ctx, nil, nil, req, wait, got, parked, nil)
}

// CompleteClaim records c (as Complete does) and claims (as Claim does),
// the completion and the first claim in one backend step
// (store.CompleteClaim): a worker's step from one job to the next. The
// completion is recorded even if ctx ends meanwhile. recorded is called
// with its error (nil: recorded) as soon as it is known, before got or
// parked.
func (s *Sched) CompleteClaim(ctx context.Context, c Completion, recorded func(error), req store.ClaimRequest, wait time.Duration, got func(store.Lease) error, parked func(Parked)) (int, error) {
	return s.claim(ctx, &c, recorded, req, wait, got, parked, nil)
}

// claim is Claim, and CompleteClaim with a completion c. With wait 0 and
// a non-nil nx, if the queue had nothing claimable, it sets nx.at to when
// a queue entry that was not claimable may become so
// (store.ClaimResult.Next), and nx.limited if a full limit held a job
// back (the caller waits for a slot itself: WaitSlots does not apply).
func (s *Sched) claim(ctx context.Context, c *Completion, recorded func(error), req store.ClaimRequest, wait time.Duration, got func(store.Lease) error, parked func(Parked), nx *nextClaim) (int, error) {
	defer func() { // a completion no claim took along
		if c != nil {
			recorded(s.Complete(context.WithoutCancel(ctx), c.Lease, c.Outcome))
		}
	}()
	if len(req.Apps) == 0 {
		if s.Cfg.App(req.App) == nil {
			return 0, fmt.Errorf("unknown app %q", req.App)
		}
		req.Limits = s.limits(req.App)
	}
	for i, a := range req.Apps {
		if s.Cfg.App(a.App) == nil {
			return 0, fmt.Errorf("unknown app %q", a.App)
		}
		req.Apps[i].Limits = s.limits(a.App)
	}
	req.Parents = s.parentRefs
	s.resume(ctx, req.Lease)
	deadline := time.Now().Add(wait)
	n := 0
	for n < req.N {
		r := req
		r.N = req.N - n
		var res store.ClaimResult
		var err error
		sent := time.Now() // the leases are counted from here (Lease.Sent)
		if c != nil {
			res, err = s.completeClaim(ctx, *c, recorded, r)
			c = nil
		} else {
			res, err = s.b.Claim(ctx, r)
		}
		if err != nil {
			return n, err
		}
		for _, j := range res.Failed {
			if parked != nil {
				parked(Parked{Ref: j.Ref, Reason: fmt.Sprintf("%s (max_retry %d reached)", j.Outcome, r.MaxRetry), Failed: true})
			}
		}
		for _, l := range res.Leases {
			l.Sent = sent
			p, err := s.ready(ctx, l)
			if err != nil {
				// Give the lease back so another claimer can try.
				_ = s.b.Release(context.WithoutCancel(ctx), l)
				return n, err
			}
			if p != nil {
				if parked != nil {
					parked(*p)
				}
				continue
			}
			n++
			if err := got(l); err != nil {
				return n, err
			}
		}
		if len(res.Leases) > 0 || len(res.Failed) > 0 {
			continue
		}
		limited := res.Limited != "" && s.WaitSlots && nx == nil
		if !limited && (wait <= 0 || !time.Now().Before(deadline)) {
			if nx != nil {
				nx.at, nx.limited = res.Next, res.Limited != ""
			}
			return n, nil
		}
		until := deadline
		if limited && !until.After(time.Now()) {
			until = time.Now().Add(SlotPoll)
		}
		if !res.Next.IsZero() && res.Next.Before(until) {
			until = res.Next
		}
		if res.Limited != "" {
			// No change of the queue says when a slot frees: look again.
			if t := time.Now().Add(SlotPoll); t.Before(until) {
				until = t
			}
		}
		if err := s.wait(ctx, req, until); err != nil {
			if ctx.Err() != nil {
				return n, nil
			}
			return n, err
		}
	}
	return n, nil
}

// nextClaim is what a claim that took nothing says of the next (claim).
type nextClaim struct {
	at      time.Time
	limited bool
}

// resume finishes the bubble-downs that other workers left unfinished
// (their marker idle for idle, a lease), looking at most once per idle.
// A failed resume is reported, not returned: the claim goes on. A failed
// listing is not even reported: the claim that follows says how the
// backend is.
func (s *Sched) resume(ctx context.Context, idle time.Duration) {
	s.mu.Lock()
	now := time.Now()
	due := s.resumed.IsZero() || now.Sub(s.resumed) >= idle
	if due {
		s.resumed = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	warn := func(err error) {
		if s.Warnf != nil && ctx.Err() == nil {
			s.Warnf("resuming a bubble-down: %v", err)
		}
	}
	markers, err := s.b.Unfinished(ctx, idle, 10)
	if err != nil {
		return // the backend is out of reach: the claim says so
	}
	for _, m := range markers {
		var err error
		if m.Readd {
			err = s.finishReadd(ctx, m.Ref)
		} else {
			var kids []store.Child
			j, rerr := s.Resolve(m.Ref)
			if err = rerr; err == nil {
				kids, err = s.BubbleDown(ctx, j)
			}
			if err == nil {
				err = s.b.Resume(ctx, m.Ref, kids)
			}
		}
		if err != nil {
			warn(fmt.Errorf("%v: %w", m.Ref, err))
		}
	}
}

// finishReadd finishes the unfinished readd of a job (its marker), with
// its descendants computed again.
func (s *Sched) finishReadd(ctx context.Context, ref store.Ref) error {
	j, err := s.Resolve(ref)
	if err != nil {
		return err
	}
	return s.b.ResumeReadd(ctx, ref, s.Descendants(j))
}

// completeReadd is a completion that the backend refused because the
// job's readd is unfinished (store.ErrResetting, err): it finishes the
// readd and completes again, once. Any other err is returned as it is.
func (s *Sched) completeReadd(ctx context.Context, err error, l store.Lease, outcome string, kids []store.Child) error {
	if !errors.Is(err, store.ErrResetting) {
		return err
	}
	if err := s.finishReadd(ctx, l.Ref); err != nil {
		return fmt.Errorf("complete %v: finishing its readd: %w", l.Ref, err)
	}
	return s.b.Complete(ctx, l, outcome, kids)
}

// completeClaim records c and claims in one backend step.
func (s *Sched) completeClaim(ctx context.Context, c Completion, recorded func(error), req store.ClaimRequest) (store.ClaimResult, error) {
	bg := context.WithoutCancel(ctx)
	kids, err := s.children(bg, c.Lease)
	if err != nil {
		recorded(err)
		return s.b.Claim(ctx, req)
	}
	res, done, err := store.CompleteClaim(bg, s.b, c.Lease, c.Outcome, kids, req)
	recorded(s.completeReadd(bg, done, c.Lease, c.Outcome, kids))
	return res, err
}

// Ready checks a claimed job's parents: it returns nil when the job may
// run, else what became of it: parked until its parents complete (their
// missing ones queued), or failed when its job id no longer parses (the
// config changed), rather than handed out or looped on.
func (s *Sched) Ready(ctx context.Context, l store.Lease) (*Parked, error) { return s.ready(ctx, l) }

func (s *Sched) ready(ctx context.Context, l store.Lease) (*Parked, error) {
	j, err := s.Resolve(l.Ref)
	if err != nil {
		if _, ferr := s.b.Fail(ctx, l, err.Error(), 1, 0); ferr != nil {
			return nil, ferr
		}
		return &Parked{Ref: l.Ref, Reason: err.Error(), Failed: true}, nil
	}
	ps := s.Parents(j)
	if len(ps) == 0 {
		return nil, nil
	}
	// Usually the parents are completed (bubble-down queued this job):
	// a read says so without a write (the claim's own, when the backend
	// read them with it). Park, atomic with the parents' states, is only
	// needed to park the job without losing the wake-up.
	states := l.Parents
	if !sameRefs(states, ps) {
		if states, err = s.b.Get(ctx, refs(ps)); err != nil {
			return nil, err
		}
	}
	if allCompleted(states) {
		return nil, nil
	}
	up, err := s.above(ctx, ps, states)
	if err != nil {
		return nil, err
	}
	pr, err := s.b.Park(ctx, l, refs(ps), up)
	if err != nil || pr.Ready {
		return nil, err
	}
	return &Parked{Ref: l.Ref, Reason: Waiting(pr.Parents)}, nil
}

// MaxAbove bounds the ancestors one bubble-up reads. Where it stops, the
// ancestors it reached are queued as they are: each bubbles up further
// when it is claimed.
const MaxAbove = 1000

// above finds what to queue so that a job whose parents ps (whose states
// are states) are not all completed can run: on each path up from it, the
// furthest ancestors that are missing (absent, or pending with no queue
// entry and no lease) and runnable (all their parents completed, or none).
// The missing ancestors below them are left as they are: bubble-down
// creates and queues each once its parents complete. Paths end at a
// completed, failed or skipped ancestor, or at one that is on its way
// (queued or claimed), or at an absent one that its app's valid_if_or
// rejects (it is created skipped). It reads the ancestors level by level
// (upWalk), one Get per level, each once, at most MaxAbove of them.
func (s *Sched) above(ctx context.Context, ps []Job, states []store.Job) ([]store.Node, error) {
	now := time.Now()
	missing := func(st store.Job) bool {
		return st.State == store.Absent || st.State == store.Pending && !st.Queued && !st.Claimed(now)
	}
	var out []store.Node
	nodes := map[store.Ref]store.Node{} // the missing ancestors met, as they would be created
	// add puts a missing ancestor on the next level to look above, unless
	// it is absent and its app's valid_if_or rejects it: created skipped,
	// it blocks its path (as bubble-down would create it).
	add := func(level []Job, j Job, st store.Job) ([]Job, error) {
		n := store.Node{Ref: j.Ref()}
		if st.State == store.Absent {
			var err error
			if n, err = s.Node(ctx, j); err != nil {
				return nil, err
			}
		}
		nodes[j.Ref()] = n
		if n.Skip {
			out = append(out, n)
			return level, nil
		}
		return append(level, j), nil
	}
	w := &upWalk{s: s, St: make(map[store.Ref]store.Job, len(ps)), Max: MaxAbove}
	var first []Job
	var err error
	for i, p := range ps {
		w.St[p.Ref()] = states[i]
	}
	for i, p := range ps {
		if _, ok := nodes[p.Ref()]; !ok && missing(states[i]) {
			if first, err = add(first, p, states[i]); err != nil {
				return nil, err
			}
		}
	}
	err = w.run(ctx, first, func(l *level) ([]Job, error) {
		if l.Cut {
			// Too many ancestors: the level is queued as it is, and
			// each of its jobs bubbles up further when claimed.
			for _, c := range l.Jobs {
				out = append(out, nodes[c.Ref()])
			}
			return nil, nil
		}
		var next []Job
		for i, c := range l.Jobs {
			runnable := true
			for _, p := range l.Parents[i] {
				j := w.St[p.Ref()]
				if j.State == store.Completed {
					continue
				}
				runnable = false
				if _, ok := nodes[p.Ref()]; !ok && missing(j) {
					var err error
					if next, err = add(next, p, j); err != nil {
						return nil, err
					}
				}
			}
			if runnable {
				out = append(out, nodes[c.Ref()])
			}
		}
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parentRefs names the parents of a job, for ClaimRequest.Parents; none
// for a job id that does not parse (ready fails it).
func (s *Sched) parentRefs(r store.Ref) []store.Ref {
	j, err := s.Resolve(r)
	if err != nil {
		return nil
	}
	return refs(s.Parents(j))
}

// refs names jobs for the backend.
func refs(js []Job) []store.Ref {
	out := make([]store.Ref, len(js))
	for i, j := range js {
		out[i] = j.Ref()
	}
	return out
}

// sameRefs says whether jobs are the jobs js, in order.
func sameRefs(jobs []store.Job, js []Job) bool {
	if len(jobs) != len(js) {
		return false
	}
	for i, j := range js {
		if jobs[i].Ref != j.Ref() {
			return false
		}
	}
	return true
}

func allCompleted(jobs []store.Job) bool {
	for _, j := range jobs {
		if j.State != store.Completed {
			return false
		}
	}
	return true
}

// Waiting says which parent holds a child back: the first failed or
// skipped one, else the first one not completed.
func Waiting(parents []store.Job) string {
	for _, p := range parents {
		if p.State == store.Failed || p.State == store.Skipped {
			return fmt.Sprintf("blocked: parent %s %s %s", p.App, p.JobID, p.State)
		}
	}
	for _, p := range parents {
		if p.State != store.Completed {
			st := string(p.State)
			if p.State == store.Absent {
				st = "absent"
			}
			return fmt.Sprintf("waiting for parent %s %s (%s)", p.App, p.JobID, st)
		}
	}
	return ""
}

// Why explains a job's state for stolos-state: who holds it, when it runs
// again, or, for a pending job, what blocks it up its ancestors (the
// Blockers, nil for any other job).
func (s *Sched) Why(ctx context.Context, j store.Job, now time.Time) (string, *Blockers, error) {
	var parts []string
	var blockers *Blockers
	switch {
	case j.State == store.Absent:
		return "", nil, nil
	case j.Claimed(now) && j.Revoked:
		parts = append(parts, fmt.Sprintf("stopping on %s (lease revoked), at the latest by %s", j.Owner, j.Until.UTC().Format(time.RFC3339)))
	case j.Claimed(now):
		parts = append(parts, fmt.Sprintf("claimed by %s until %s", j.Owner, j.Until.UTC().Format(time.RFC3339)))
	case waitingWhy(j, now) != "":
		parts = append(parts, waitingWhy(j, now))
		j.Outcome = "" // it says so already
	case j.Queued && j.NotBefore.After(now):
		parts = append(parts, fmt.Sprintf("queued, retry at %s", j.NotBefore.UTC().Format(time.RFC3339)))
	case j.Queued:
		parts = append(parts, fmt.Sprintf("queued, priority %d", j.Priority))
		slot, err := s.Slots(ctx, j.App)
		if err != nil {
			return "", nil, err
		}
		if slot != "" {
			parts = append(parts, slot)
		}
	case j.State == store.Pending:
		b, err := s.Blockers(ctx, j, now)
		if err != nil {
			return "", nil, err
		}
		blockers = &b
		w := b.String(now)
		if w == "" {
			w = "not queued"
		}
		parts = append(parts, w)
	}
	if j.Attempts > 0 {
		parts = append(parts, Plural(j.Attempts, "failed attempt"))
	}
	if j.Outcome != "" {
		parts = append(parts, "last: "+j.Outcome)
	}
	return strings.Join(parts, "; "), blockers, nil
}
