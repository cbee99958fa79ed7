// Package exec is stolos-exec: it runs jobs of an app. With job ids as
// arguments it runs those; without, it claims the next
// runnable job; with -loop it keeps claiming. Each attempt runs the app's
// command under a lease that it renews; a job whose lease is lost is
// killed and no outcome is recorded. Success completes the job and queues
// the children it unblocks; failure counts an attempt and queues the job
// again after retry_delay (doubling each time) until max_retry. One line per
// attempt goes to stderr. See stolos-exec(1).
package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/runner"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// ReaperArg is the first argument that makes stolos-exec the reaper of a
// command's process group (lib/runner).
const ReaperArg = "__stolos_reaper"

// Exit statuses beyond cli's.
const (
	// Interrupted: SIGINT or SIGTERM stopped a run; its lease was given back.
	Interrupted = 3
)

type flags struct {
	App      string // one app, or several: a comma list (apps)
	All      bool
	Loop     bool
	Wait     time.Duration
	Lease    time.Duration
	MaxRetry int
	LogDir   string
	Grace    time.Duration
	Bypass   bool
	BashCmd  string // stolos's -bash-cmd
	MaxLoad  float64
	MinFree  size
	Setup    sched.Setup
}

func newTool(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	return newNamed("stolos-exec", "stolos-exec -a APP[,APP...] | -all [-loop] [-wait D] [JOB_ID ...] [-- WORDS ...]", stdin, stdout, stderr)
}

// newNamed makes the tool stolos-exec, or another front of it (stolos).
func newNamed(name, synopsis string, stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	t := cli.New(name, synopsis, stdin, stdout, stderr)
	f := &flags{}
	t.AppFlag(&f.App, true)
	t.JobIDFlag()
	t.Flags.BoolVar(&f.All, "all", false, "claim jobs of every app of the configuration, as -a with all of them (env STOLOS_ALL)")
	t.Flags.BoolVar(&f.Loop, "loop", false, "keep claiming and running jobs until the queue is empty (with -wait, forever) (env STOLOS_LOOP)")
	t.Flags.DurationVar(&f.Wait, "wait", 0, "wait up to `D` for a job to claim (env STOLOS_WAIT)")
	sched.LeaseFlag(t.Flags, &f.Lease)
	t.Flags.IntVar(&f.MaxRetry, "max-retry", sched.DefaultMaxRetry, "fail a job after `N` failed attempts, unless its app sets max_retry (env STOLOS_MAX_RETRY)")
	t.Flags.StringVar(&f.LogDir, "log-dir", "", "write each attempt's output to a file under `DIR` (default $XDG_STATE_HOME/stolos/log; - for stderr) (env STOLOS_LOG_DIR)")
	t.Flags.DurationVar(&f.Grace, "grace", 10*time.Second, "on SIGINT, SIGTERM, a timeout or a lost lease, wait `D` (at most an eighth of -lease) after SIGTERM before SIGKILL (env STOLOS_GRACE)")
	t.Flags.BoolVar(&f.Bypass, "bypass-scheduler", false, "run the named jobs' command and change no state (env STOLOS_BYPASS_SCHEDULER)")
	t.Flags.Float64Var(&f.MaxLoad, "max-load", 0, "take no job while the one-minute load average per core is over `LOAD`; 0: no limit (env STOLOS_MAX_LOAD)")
	t.Flags.Var(&f.MinFree, "min-free-mem", "take no job while the available memory is under `SIZE` (512M); 0: no limit (env STOLOS_MIN_FREE_MEM)")
	t.QuietFlag()
	f.Setup.Register(t.Flags)
	t.Signals = []os.Signal{os.Interrupt, syscall.SIGTERM}
	return t, f
}

// Tool returns the tool with its flags registered, for documentation checks.
func Tool() *cli.Tool { return cli.Command[*flags]{New: newTool}.Tool() }

// Main runs stolos-exec.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return mainOf(newTool, args, stdin, stdout, stderr)
}

// mainOf runs the tool that newT makes: stolos-exec or a front of it.
func mainOf(newT func(io.Reader, io.Writer, io.Writer) (*cli.Tool, *flags), args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == ReaperArg {
		return runner.ReaperMain(args[1:])
	}
	// A worker is one loop waiting on the backend and on its command: more
	// than one processor only has the runtime's idle threads spin, on the
	// cores the commands need (8% of the time of a chain of short jobs).
	// GOMAXPROCS in the environment still decides.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	return cli.Command[*flags]{New: newT, Run: func(ctx context.Context, t *cli.Tool, f *flags, rest []string) error {
		return run(ctx, t, f, args, rest)
	}}.Main(args, stdin, stdout, stderr)
}

// run checks the flags and runs the named jobs, or claims and runs jobs.
// The first signal stops claiming and cancels the running command
// (SIGTERM, then SIGKILL after -grace).
func run(ctx context.Context, t *cli.Tool, f *flags, args, rest []string) error {
	ids, extra := splitExtra(args, rest)
	named := len(ids) > 0 || len(t.JobIDs()) > 0
	extra, err := words(f, extra)
	if err != nil {
		return err
	}
	switch {
	case f.App == "" && !f.All:
		return cli.Usagef("no app: give -a APP or set STOLOS_APP_NAME")
	case f.Lease < 3*time.Millisecond:
		return cli.Usagef("-lease %v: too short", f.Lease)
	case f.MaxRetry < 1:
		return cli.Usagef("-max-retry %d: want at least 1", f.MaxRetry)
	case f.Wait < 0 || f.Grace < 0:
		return cli.Usagef("-wait and -grace take durations of 0 or more")
	case f.Bypass && !named:
		return cli.Usagef("-bypass-scheduler needs job ids")
	case f.Loop && named:
		return cli.Usagef("-loop claims jobs: name no job ids")
	}
	dir, err := sched.LogDir(f.LogDir)
	if err != nil {
		return err
	}
	f.LogDir = dir
	guard, err := newGuard(f.MaxLoad, f.MinFree, os.Getenv(ProcEnv))
	if err != nil {
		return err
	}
	apps, err := appList(f, named)
	if err != nil {
		return err
	}
	now, err := t.Clock()
	if err != nil {
		return cli.Invalid(err)
	}
	s, err := f.Setup.Open(ctx, apps.one(), t.Warnf)
	if err != nil {
		return err
	}
	defer s.Close()
	s.WaitSlots = f.Loop // the queue is not empty while a limit holds jobs back
	if err := apps.resolve(s.Cfg); err != nil {
		return err
	}
	if err := apps.haveCommands(s.Cfg, extra, t.Warnf); err != nil {
		return err
	}
	argv, err := reaperArgv()
	if err != nil {
		return err
	}
	reaper := runner.NewReaper(argv)
	defer reaper.Close()
	w := &worker{t: t, f: f, s: s, extra: extra, reaper: reaper, owner: sched.Owner(t.Name), guard: guard, now: now, apps: apps}
	switch {
	case f.Bypass:
		w.bypass(ctx, ids)
	case named:
		w.named(ctx, ids)
	default:
		w.claimed(ctx)
	}
	return nil
}

// splitExtra separates job ids from the words after "--", which the flag
// package leaves in rest (it drops the "--" itself).
func splitExtra(args, rest []string) (ids, extra []string) {
	// The "--" that ended the flags is the one just before rest, if any.
	n := len(args) - len(rest)
	if n > 0 && args[n-1] == "--" {
		return nil, rest
	}
	for i, a := range rest {
		if a == "--" {
			return rest[:i], rest[i+1:]
		}
	}
	return rest, nil
}

func reaperArgv() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find my own executable to reap commands: %v", err)
	}
	return []string{exe, ReaperArg}, nil
}

type worker struct {
	t      *cli.Tool
	f      *flags
	s      *sched.Sched
	extra  []string
	reaper *runner.Reaper // one reaper process for all the attempts
	owner  string
	outage outage           // of a -loop -wait worker's claims
	guard  *guard           // -max-load, -min-free-mem
	now    func() time.Time // the clock of readiness timeouts (cli.Tool.Clock)
	apps   apps             // -a, -all
}

// eachJob calls fn for each job named by ids, in order, until a signal;
// bad ones are reported.
func (w *worker) eachJob(ctx context.Context, ids []string, fn func(j sched.Job)) {
	for _, j := range cli.Jobs(w.t, w.apps.one(), ids, w.s.ResolveRecord) {
		if ctx.Err() != nil {
			break
		}
		fn(j)
	}
	w.interrupted(ctx)
}

// interrupted reports the exit status Interrupted if a signal came.
func (w *worker) interrupted(ctx context.Context) {
	if ctx.Err() != nil {
		w.t.Report(cli.Exit(Interrupted, nil))
	}
}

// named runs the jobs named on the command line, each now, under a lease.
func (w *worker) named(ctx context.Context, ids []string) {
	w.eachJob(ctx, ids, func(j sched.Job) {
		if w.guard.wait(ctx, w.t); ctx.Err() != nil {
			return
		}
		l, err := w.s.Acquire(ctx, j, w.owner, w.f.Lease)
		if err != nil {
			w.t.Report(w.explain(ctx, j, err))
			return
		}
		p, err := w.s.Ready(ctx, l)
		switch {
		case err != nil:
			w.t.Report(err)
		case p != nil:
			w.t.Report(errors.New(p.String()))
		default:
			w.attempt(ctx, l, false)
		}
	})
}

// explain words an Acquire error the same way on every backend.
func (w *worker) explain(ctx context.Context, j sched.Job, err error) error {
	switch {
	case errors.Is(err, store.ErrNotPending):
		st := "not pending"
		if job, gerr := w.s.Get(ctx, j.Ref()); gerr == nil {
			st = string(job.State)
		}
		return fmt.Errorf("%s %s: job is %s (use stolos-submit -readd to run it again)", j.App.Name, j.ID, st)
	case errors.Is(err, store.ErrHeld):
		return fmt.Errorf("%s %s: job is running elsewhere", j.App.Name, j.ID)
	}
	return fmt.Errorf("%s %s: %v", j.App.Name, j.ID, err)
}

// claimed claims and runs one job, or with -loop, jobs until the queue is
// empty (with -wait, until a signal). In a loop, each success is recorded
// with the next claim, in one backend step.
func (w *worker) claimed(ctx context.Context) {
	claim, loop := w.claimer()
	var done *success // to record with the next claim
	record := func(d *success) func(error) {
		return func(err error) { w.recorded(d, err) }
	}
	for ctx.Err() == nil {
		var got *store.Lease
		take := func(l store.Lease) error {
			got = &l
			return nil
		}
		parked := func(p sched.Parked) {
			if p.Failed {
				w.t.Report(errors.New(p.String()))
			} else {
				w.t.Warnf("%v", p)
			}
		}
		if !w.guard.ok(w.t) {
			// An overloaded machine takes no job: the success waiting
			// for the next claim is recorded now.
			if done != nil {
				record(done)(w.s.Complete(context.WithoutCancel(ctx), done.c.Lease, done.c.Outcome))
				done = nil
			}
			if w.guard.wait(ctx, w.t); ctx.Err() != nil {
				break
			}
		}
		var c *sched.Completion
		var recorded func(error)
		if done != nil {
			c, recorded = &done.c, record(done)
			done = nil
		}
		err := claim(ctx, c, recorded, take, parked)
		if err != nil && w.f.Loop && w.f.Wait > 0 && ctx.Err() == nil && !errors.Is(err, store.ErrDataLost) {
			// A waiting worker outlives a backend outage.
			w.outage.wait(ctx, w.t, err)
			continue
		}
		if err != nil {
			w.t.Report(fmt.Errorf("claim: %v", err))
			return
		}
		w.outage.over(w.t)
		if got != nil && ctx.Err() != nil {
			w.release(*got) // claimed as the signal came: not started
			break
		}
		if got != nil {
			done = w.attempt(ctx, *got, loop)
		}
		if !loop || got == nil && (w.f.Wait == 0 || !w.f.Loop) {
			break
		}
	}
	if done != nil {
		record(done)(w.s.Complete(context.WithoutCancel(ctx), done.c.Lease, done.c.Outcome))
	}
	w.interrupted(ctx)
}

// Retries of a backend that fails a waiting worker's claims start after
// outageFirst and double up to outageMax, each less up to half of it at
// random, so that the workers of a fleet do not all come back at once.
const (
	outageFirst = 100 * time.Millisecond
	outageMax   = 5 * time.Second
)

// outage is a run of failed claims of a -loop -wait worker: reported once
// when it starts and once when a claim succeeds again.
type outage struct {
	since time.Time
	tries int
}

// wait reports err if it starts an outage, and waits before the next try.
func (o *outage) wait(ctx context.Context, t *cli.Tool, err error) {
	if o.tries == 0 {
		o.since = time.Now()
		t.Warnf("claim: %v; retrying until the backend answers", err)
	}
	d := min(sched.Backoff(outageFirst, o.tries), outageMax)
	d -= rand.N(d / 2)
	o.tries++
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// over reports the end of an outage, if there was one.
func (o *outage) over(t *cli.Tool) {
	if o.tries > 0 {
		t.Warnf("the backend answers again, after an outage of %v", time.Since(o.since).Round(100*time.Millisecond))
		*o = outage{}
	}
}

// success is an attempt that succeeded and is not recorded yet.
type success struct {
	c      sched.Completion
	prefix string // "APP JOB_ID attempt N: "
	text   string // the outcome's own text ("exit 0")
}

// recorded reports the recording of a success (err nil) or its failure.
// A completion that could not be recorded at all (not a lost lease) counts
// as a failed attempt, with an outcome that says why, so that one that can
// never be recorded ends at max_retry instead of running again at every
// lease expiry.
func (w *worker) recorded(d *success, err error) {
	switch {
	case err == nil:
		w.pruneLog(d.c.Lease)
		w.t.Warnf("%s%s, completed", d.prefix, d.text)
		return
	case errors.Is(err, store.ErrUnfinished):
		w.pruneLog(d.c.Lease)
		w.t.Warnf("%s%s, completed; %v", d.prefix, d.text, err)
		return
	}
	j, rerr := w.s.Resolve(d.c.Lease.Ref)
	if errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrNotFound) || rerr != nil {
		w.notRecorded(d.c.Lease, d.prefix, d.text, err)
		return
	}
	// Bounded like release: a backend that hangs does not hang the worker.
	ctx, cancel := context.WithTimeout(context.Background(), w.f.Lease)
	defer cancel()
	outcome := fmt.Sprintf("%s, but the completion could not be recorded: %v", d.c.Outcome, err)
	w.failed(ctx, j.App, d.c.Lease, d.prefix, d.text+", but the completion could not be recorded ("+err.Error()+")", outcome)
}

// notRecorded reports an outcome of a job held under l that recording
// failed with err; a lost (perhaps revoked) lease is released first, for
// a revoked lease waits for it.
func (w *worker) notRecorded(l store.Lease, prefix, text string, err error) {
	if errors.Is(err, store.ErrLeaseLost) {
		w.release(l)
	}
	w.t.Report(fmt.Errorf("%s%s, but recording it failed: %v", prefix, text, err))
}

// failed records a failed attempt of a job of app a held under l, with
// outcome, and reports it under prefix and text: a failure, even if the
// job will run again.
func (w *worker) failed(ctx context.Context, a *config.App, l store.Lease, prefix, text, outcome string) {
	r, err := w.s.Fail(ctx, a, l, outcome, w.f.MaxRetry)
	if err == nil {
		w.pruneLog(l)
	}
	switch {
	case err != nil:
		w.notRecorded(l, prefix, text, err)
	case r.Final:
		w.t.Report(fmt.Errorf("%s%s, failed (max_retry %d reached)", prefix, text, r.MaxRetry))
	case r.Delay > 0:
		w.t.Report(fmt.Errorf("%s%s, retry in %v", prefix, text, r.Delay))
	default:
		w.t.Report(fmt.Errorf("%s%s, queued again", prefix, text))
	}
}

// attempt runs one attempt of a job held under lease l, keeps the lease
// renewed, and records and reports the outcome. With later, a success is
// not recorded but returned, for the next claim to record
// (sched.CompleteClaim).
func (w *worker) attempt(ctx context.Context, l store.Lease, later bool) *success {
	// The lease is counted from when the request that took it was sent,
	// as renewals are (renew): an answer that came late (a slow network,
	// a pause of this process) does not stretch it. A lease with no
	// Sent has ended.
	start := runner.Now().Add(-time.Since(l.Sent))
	j, err := w.s.Resolve(l.Ref)
	if err != nil {
		w.t.Report(err)
		return nil
	}
	a := j.App
	n := l.Attempts + 1
	job := w.runnerJob(j)
	logNote := ""
	if w.f.LogDir != "" {
		f, path, err := openLog(w.f.LogDir, a.Name, j.ID, l.Seq)
		if err != nil {
			w.t.Report(fmt.Errorf("%s %s: %v", a.Name, j.ID, err))
			w.release(l)
			return nil
		}
		defer f.Close()
		job.Stdout, job.Stderr = f, f
		logNote = " (log " + path + ")"
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		l.Log = sched.Host() + ":" + path // the attempt's record says where
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	renewed := make(chan store.Lease, 1)
	// The reaper stops the command by the deadline unless a renewal moves
	// it (a dead-man's switch): whatever this process is doing by then.
	w.reaper.SetDeadline(start.Add(w.f.Lease - leaseMargin(w.f.Lease)))
	go w.renew(runCtx, l, start, cancel, renewed)
	out, err := w.reaper.Run(runCtx, job)
	lost := errors.Is(context.Cause(runCtx), store.ErrLeaseLost) || out.Expired
	cancel(nil)
	l = <-renewed // the latest lease, once renewing stopped
	w.reaper.SetDeadline(0)
	prefix := fmt.Sprintf("%s %s attempt %d: ", a.Name, j.ID, n)
	switch {
	case err != nil:
		w.t.Report(fmt.Errorf("%s%v", prefix, err))
		w.release(l)
		return nil
	case lost:
		// Fencing: another worker may hold the job now; record nothing.
		// A lease an operator revoked waits for this release (the command
		// is dead) before the job can run again.
		w.release(l)
		w.t.Report(fmt.Errorf("%slease lost; command killed, no outcome recorded", prefix))
		return nil
	case ctx.Err() != nil:
		w.t.Warnf("%sinterrupted (%s); lease released", prefix, out.Text)
		w.release(l)
		w.t.Report(cli.Exit(Interrupted, nil))
		return nil
	}
	text := out.Text // the log is in the attempt's record (l.Log), not in its outcome
	bg := context.WithoutCancel(ctx)
	if out.NotReady {
		w.notReady(bg, a, l, fmt.Sprintf("%s %s", a.Name, j.ID), prefix, logNote)
		return nil
	}
	if out.OK {
		d := &success{c: sched.Completion{Lease: l, Outcome: text}, prefix: prefix, text: out.Text}
		if later {
			return d
		}
		w.recorded(d, w.s.Complete(bg, l, text))
		return nil
	}
	w.failed(bg, a, l, prefix, out.Text, text)
	return nil
}

// maxRetry is the app's max_retry, or -max-retry if it sets none.
func (w *worker) maxRetry(a *config.App) int { return sched.MaxRetry(a, w.f.MaxRetry) }

// leaseMargin is how long before its lease expires a worker that could not
// renew it stops its command: the command is killed (SIGTERM, then SIGKILL
// after the grace, at most half the margin) before another worker can
// claim the job, so one job never runs in two places.
func leaseMargin(lease time.Duration) time.Duration { return lease / 4 }

// grace is the -grace a job gets: at most an eighth of the lease, so that
// a command stopped at the lease margin is dead before the lease ends.
func (w *worker) grace() time.Duration { return min(w.f.Grace, w.f.Lease/8) }

// heldEvery is how often a running job's lease is read (Backend.Held)
// between renewals, so that a lease an operator revoked stops the command
// within about a second.
const heldEvery = 500 * time.Millisecond

// renew extends the lease every third of its length until ctx ends, and
// between renewals reads it every heldEvery (Backend.Held), so that a lease
// an operator revoked stops the command soon. The
// lease is counted from when each successful renewal was sent, by this
// machine's monotonic clock, so the server's clock does not matter. Each
// success moves the reaper's deadline (runner.Reaper.SetDeadline), which
// stops the command by itself if this process is paused or stuck. If no
// renewal succeeds by the lease's end less the margin (the server is
// unreachable, a call hangs) or the lease is lost (revoked, taken over),
// renew cancels the run with store.ErrLeaseLost at once, on a timer of its
// own: backend calls run beside it and never delay it. It sends the latest
// lease when it stops.
func (w *worker) renew(ctx context.Context, l store.Lease, start runner.Deadline, cancel context.CancelCauseFunc, done chan<- store.Lease) {
	type result struct {
		l    store.Lease
		err  error
		sent runner.Deadline
	}
	results := make(chan result, 1) // a call in flight never blocks on it
	inFlight := false
	checks := make(chan error, 1) // likewise for Held
	checking := false
	defer func() { done <- l }()
	deadline := start.Add(w.f.Lease - leaseMargin(w.f.Lease))
	every := w.f.Lease / 3
	expire := time.NewTimer(deadline.Until())
	defer expire.Stop()
	tick := time.NewTimer(start.Add(every).Until())
	defer tick.Stop()
	poll := time.NewTimer(heldEvery)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			if inFlight {
				// The run ended, which ends the call: its lease is the
				// latest if it succeeded. No waiting past the deadline.
				select {
				case r := <-results:
					if r.err == nil {
						l = r.l
					}
				case <-expire.C:
				}
			}
			return
		case <-expire.C:
			if d := deadline.Until(); d > 0 { // a renewal moved it
				expire.Reset(d)
				continue
			}
			cancel(store.ErrLeaseLost)
			return
		case <-tick.C:
			sent := runner.Now()
			inFlight = true
			go func(l store.Lease, until time.Time) {
				rctx, rcancel := context.WithDeadline(ctx, until)
				defer rcancel()
				nl, err := w.s.Renew(rctx, l, w.f.Lease)
				results <- result{nl, err, sent}
			}(l, time.Now().Add(deadline.Until()))
		case r := <-results:
			inFlight = false
			switch {
			case r.err == nil:
				l = r.l
				deadline = r.sent.Add(w.f.Lease - leaseMargin(w.f.Lease))
				w.reaper.SetDeadline(deadline)
				expire.Reset(deadline.Until())
				tick.Reset(r.sent.Add(every).Until())
			case ctx.Err() != nil:
				return
			case errors.Is(r.err, store.ErrLeaseLost):
				cancel(store.ErrLeaseLost)
				return
			default:
				// Try again soon; the deadline still holds.
				tick.Reset(min(every, time.Second))
				w.t.Warnf("%s %s: renewing the lease: %v (retrying)", l.App, l.JobID, r.err)
			}
		case <-poll.C:
			if checking || inFlight {
				poll.Reset(heldEvery)
				continue
			}
			checking = true
			go func(l store.Lease, until time.Time) {
				hctx, hcancel := context.WithDeadline(ctx, until)
				defer hcancel()
				checks <- w.s.Held(hctx, l)
			}(l, time.Now().Add(deadline.Until()))
		case err := <-checks:
			checking = false
			if errors.Is(err, store.ErrLeaseLost) && ctx.Err() == nil {
				cancel(store.ErrLeaseLost)
				return
			}
			poll.Reset(heldEvery)
		}
	}
}

// release gives lease l back. It waits at most a lease for the backend:
// by then the lease has ended anyway, and a worker cut off from its server
// goes on (backend calls return at their context's deadline).
func (w *worker) release(l store.Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), w.f.Lease)
	defer cancel()
	err := w.s.Release(ctx, l)
	switch {
	case err == nil:
		w.pruneLog(l)
	case !errors.Is(err, store.ErrLeaseLost):
		w.t.Report(fmt.Errorf("%s %s: releasing the lease: %v", l.App, l.JobID, err))
	}
}

// runnerJob is what lib/runner needs to run job j.
func (w *worker) runnerJob(j sched.Job) runner.Job {
	a := j.App
	job := runner.Job{App: a.Name, JobID: j.ID, JobType: a.Exec.JobType, BashCmd: a.Exec.BashCmd,
		Extra: w.extra, CheckCmd: a.Exec.CheckCmd, ReadyCmd: a.Exec.ReadyCmd, Environ: os.Environ(), Env: a.Exec.Env,
		Timeout: a.Exec.Timeout, Grace: w.grace(), Stdout: w.t.Stderr, Stderr: w.t.Stderr}
	for i, k := range a.Template.Idents {
		job.Idents = append(job.Idents, runner.Ident{Name: k, Value: j.Vals[i]})
	}
	return job
}

// bypass runs the named jobs' commands with no lease and no state change.
func (w *worker) bypass(ctx context.Context, ids []string) {
	w.eachJob(ctx, ids, func(j sched.Job) {
		job := w.runnerJob(j)
		job.ReadyCmd = "" // the command, now, as asked
		out, err := w.reaper.Run(ctx, job)
		if err != nil || !out.OK {
			w.t.Report(fmt.Errorf("%s %s: %s%v", j.App.Name, j.ID, out.Text, errOrEmpty(err)))
			return
		}
		w.t.Warnf("%s %s: %s (bypassing the scheduler)", j.App.Name, j.ID, out.Text)
	})
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
