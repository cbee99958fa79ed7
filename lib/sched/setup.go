package sched

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/stolos-sched/stolos/lib/backend"
	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/store"
)

// Setup is what every stateful tool shares: the configuration flags and
// the queue backend flags.
type Setup struct {
	Config cli.ConfigFlags
	QB     backend.Flags
}

// Register adds both sets of flags.
func (s *Setup) Register(fs *flag.FlagSet) {
	s.Config.Register(fs)
	s.QB.Register(fs)
}

// Open loads the configuration, checks app (when not empty) against it,
// and connects to the backend. A bad configuration, app or flag is a usage
// error (cli.Usagef); a backend that cannot be reached, a failure. warnf
// receives warnings: the backend's (Redis's eviction policy), and those of
// the Sched.
func (s *Setup) Open(ctx context.Context, app string, warnf func(string, ...any)) (*Sched, error) {
	cfg, err := s.Load(ctx, app)
	if err != nil {
		return nil, err
	}
	if err := s.QB.Check(); err != nil {
		return nil, cli.Usagef("%v", err)
	}
	b, err := s.QB.Open(ctx, warnWriter(warnf))
	if err != nil {
		return nil, fmt.Errorf("%s backend: %v", s.QB.Backend, err)
	}
	sc := New(cfg, b)
	sc.Environ, sc.Warnf = os.Environ(), warnf
	return sc, nil
}

// Load loads the configuration alone (what Open does first) and checks
// app (when not empty) against it; an error is a usage error.
func (s *Setup) Load(ctx context.Context, app string) (*config.Config, error) {
	cfg, err := s.Config.Load(ctx)
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	if app != "" && cfg.App(app) == nil {
		return nil, cli.Usagef("unknown app %q", app)
	}
	return cfg, nil
}

// warnWriter passes backend warnings, one per write, to a Warnf.
type warnWriter func(string, ...any)

func (w warnWriter) Write(p []byte) (int, error) {
	w("%s", strings.TrimSpace(string(p)))
	return len(p), nil
}

// New makes the Sched of a configuration and a backend, which it owns
// from then on (Close closes it).
func New(cfg *config.Config, b store.Backend) *Sched { return &Sched{Cfg: cfg, b: b} }

// Close closes the backend.
func (s *Sched) Close() error { return s.b.Close() }

// DefaultLease is the lease of -lease.
const DefaultLease = time.Minute

// Hold is the lease of stolos-claim's jobs (transferable leases) when
// -lease does not bound it: they wait for a worker in a pipe, and are held
// until one takes them over, however long that takes (ten years stand for
// no end: every backend stores the time as a number, and stolos-state
// shows it).
const Hold = 10 * 365 * 24 * time.Hour

// LeaseFlag registers -lease of stolos-exec.
func LeaseFlag(fs *flag.FlagSet, p *time.Duration) {
	fs.DurationVar(p, "lease", DefaultLease, "hold claimed jobs for `D`; a lease not renewed expires and the job is claimable again (env STOLOS_LEASE)")
}

// Owner names this process, a run of tool, as a lease holder.
func Owner(tool string) string {
	return fmt.Sprintf("%s@%s:%d", tool, Host(), os.Getpid())
}

// Host is this machine's name, as owners and log locations give it.
func Host() string {
	host, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return host
}

// MaxBackoff bounds the delay between retries.
const MaxBackoff = 24 * time.Hour

// Backoff is retry_delay base doubled for each failed attempt before this
// one (before), at most MaxBackoff.
func Backoff(base time.Duration, before int) time.Duration {
	d := base
	for i := 0; i < before && d > 0 && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// Retry is what became of a failed attempt (Fail).
type Retry struct {
	Final    bool          // max_retry was reached: the job is failed
	MaxRetry int           // the job's max_retry
	Delay    time.Duration // else, when it runs again
}

// Fail records a failed attempt of the job held under l, with outcome, by
// the retry policy: the job is failed once its app's max_retry (or defMax,
// if it sets none) is reached, else queued again after its retry_delay,
// doubled for each attempt before (Backoff).
func (s *Sched) Fail(ctx context.Context, a *config.App, l store.Lease, outcome string, defMax int) (Retry, error) {
	r := Retry{MaxRetry: MaxRetry(a, defMax), Delay: Backoff(a.Exec.RetryDelay, l.Attempts)}
	var err error
	r.Final, err = s.b.Fail(ctx, l, outcome, r.MaxRetry, r.Delay)
	return r, err
}

// The job-state operations a tool needs besides Claim and Complete; each
// is the backend's (lib/store), named by the tool's jobs.

// Acquire takes the lease of job j to run it now (stolos-exec JOB_ID); the
// lease is counted from when the request was sent (Lease.Sent).
func (s *Sched) Acquire(ctx context.Context, j Job, owner string, lease time.Duration) (store.Lease, error) {
	sent := time.Now()
	l, err := s.b.Acquire(ctx, j.Ref(), owner, lease)
	l.Sent = sent
	return l, err
}

// Renew extends lease l to lease from now.
func (s *Sched) Renew(ctx context.Context, l store.Lease, lease time.Duration) (store.Lease, error) {
	return s.b.Renew(ctx, l, lease)
}

// Held says whether lease l still holds (store.ErrLeaseLost if not).
func (s *Sched) Held(ctx context.Context, l store.Lease) error { return s.b.Held(ctx, l) }

// Release gives lease l back.
func (s *Sched) Release(ctx context.Context, l store.Lease) error { return s.b.Release(ctx, l) }

// Get reads the state of one job.
func (s *Sched) Get(ctx context.Context, ref store.Ref) (store.Job, error) {
	jobs, err := s.b.Get(ctx, []store.Ref{ref})
	if err != nil {
		return store.Job{}, err
	}
	return jobs[0], nil
}

// GetAll reads the states of jobs in one request to the backend: the
// job of refs[i] is the i-th (State Absent if there is none).
func (s *Sched) GetAll(ctx context.Context, refs []store.Ref) ([]store.Job, error) {
	return s.b.Get(ctx, refs)
}

// SetState sets a job's state (not completed: see Complete), with outcome.
func (s *Sched) SetState(ctx context.Context, ref store.Ref, st store.State, outcome string) error {
	return s.b.SetState(ctx, ref, st, outcome)
}

// Submit queues jobs (see Item).
func (s *Sched) Submit(ctx context.Context, items []store.SubmitItem) ([]store.SubmitResult, error) {
	return s.b.Submit(ctx, items)
}

// Item makes the submit item of job j: valid_if_or decides skipped, and a
// readd resets the job's descendants.
func (s *Sched) Item(ctx context.Context, j Job, priority int, readd bool) (store.SubmitItem, error) {
	n, err := s.Node(ctx, j)
	if err != nil {
		return store.SubmitItem{}, err
	}
	item := store.SubmitItem{Node: n, Priority: priority, Readd: readd}
	if readd {
		item.Reset = s.Descendants(j)
	}
	return item, nil
}

// Count counts the jobs of app by state, and those queued and claimed.
func (s *Sched) Count(ctx context.Context, app string) (store.Counts, error) {
	return s.b.Count(ctx, app)
}

// History reads the recorded attempts of jobs, oldest first: one list per
// ref.
func (s *Sched) History(ctx context.Context, refs []store.Ref) ([][]store.Attempt, error) {
	return s.b.History(ctx, refs)
}

// AppHistory calls fn for every recorded attempt of app that ended in
// [since, until) (a zero until: no end).
func (s *Sched) AppHistory(ctx context.Context, app string, since, until time.Time, fn func(store.Attempt) error) error {
	return s.b.AppHistory(ctx, app, since, until, fn)
}

// List calls fn for every known job of app (in state filter, unless it is
// Absent).
func (s *Sched) List(ctx context.Context, app string, filter store.State, fn func(store.Job) error) error {
	return s.b.List(ctx, app, filter, fn)
}
