// Package state is stolos-state: it reads jobs (arguments, stdin lines or
// records) and writes their state, APP<TAB>JOB_ID<TAB>STATE<TAB>detail per
// line (or JSON with -json); -set changes it; -list streams every known
// job of an app; -count counts them by state; -history writes the
// recorded attempts of jobs, or of an app over a time window. See
// stolos-state(1).
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// Running is the exit status when -set completed was refused for a job a
// worker runs (and nothing worse happened).
const Running = 3

// forcePoll is how often -force reads a job whose lease it revoked, until
// the holder released it.
const forcePoll = 50 * time.Millisecond

type flags struct {
	App     string
	Set     string
	Force   bool
	List    bool
	Filter  string
	Count   bool
	History bool
	Log     bool
	Attempt int64
	Since   string
	Until   string
	JSON    bool
	Setup   sched.Setup
}

func newTool(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	t := cli.New("stolos-state", "stolos-state [-a APP] [-set STATE | -history | -log [-attempt SEQ]] [-json] [JOB_ID ...] | -a APP -list [-state STATE] | -a APP -count | -a APP -history -since TIME [-until TIME]", stdin, stdout, stderr)
	f := &flags{}
	t.AppFlag(&f.App, false)
	t.JobIDFlag()
	t.Flags.StringVar(&f.Set, "set", "", "set the jobs' `STATE`: pending, completed (queues the children it unblocks), failed or skipped (env STOLOS_SET)")
	t.Flags.BoolVar(&f.Force, "force", false, "with -set completed: stop a running job's command and wait for its death first (env STOLOS_FORCE)")
	t.Flags.BoolVar(&f.List, "list", false, "every known job of the app (env STOLOS_LIST)")
	t.Flags.StringVar(&f.Filter, "state", "", "with -list: only jobs in `STATE` (env STOLOS_STATE)")
	t.Flags.BoolVar(&f.Count, "count", false, "count the app's jobs by state, and those queued and claimed (env STOLOS_COUNT)")
	t.Flags.BoolVar(&f.Log, "log", false, "write the log of the jobs' latest recorded attempt, or of -attempt (env STOLOS_LOG)")
	t.Flags.Int64Var(&f.Attempt, "attempt", 0, "with -log: the attempt numbered `SEQ` (see -history) (env STOLOS_ATTEMPT)")
	t.Flags.BoolVar(&f.History, "history", false, "write the jobs' recorded attempts, or with -since an app's (env STOLOS_HISTORY)")
	t.Flags.StringVar(&f.Since, "since", "", "with -history: the attempts of the app that ended at or after `TIME` (env STOLOS_SINCE)")
	t.Flags.StringVar(&f.Until, "until", "", "with -history -since: ... and before `TIME` (env STOLOS_UNTIL)")
	t.Flags.BoolVar(&f.JSON, "json", false, "write JSON objects, one per line (env STOLOS_JSON)")
	t.QuietFlag()
	f.Setup.Register(t.Flags)
	t.Signals = []os.Signal{os.Interrupt}
	// A job left running (3) is less serious than a failure (1).
	t.Severity = []int{cli.OK, Running, cli.Failure, cli.Usage}
	return t, f
}

// command is stolos-state.
var command = cli.Command[*flags]{New: newTool, Run: run}

// Tool returns the tool with its flags registered, for documentation checks.
func Tool() *cli.Tool { return command.Tool() }

// Main runs stolos-state.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return command.Main(args, stdin, stdout, stderr)
}

// run checks the flags, opens the backend, and counts, lists, or shows or
// sets each job read.
func run(ctx context.Context, t *cli.Tool, f *flags, rest []string) error {
	setTo, filter, err := f.check(rest)
	if err != nil {
		return err
	}
	var since, until time.Time
	if f.Since != "" {
		if since, err = parseTime(f.Since, time.Now()); err != nil {
			return cli.Usagef("-since: %v", err)
		}
	}
	if f.Until != "" {
		if until, err = parseTime(f.Until, time.Now()); err != nil {
			return cli.Usagef("-until: %v", err)
		}
	}
	s, err := f.Setup.Open(ctx, f.App, t.Warnf)
	if err != nil {
		return err
	}
	defer s.Close()
	w := &writer{t: t, s: s, json: f.JSON}
	switch {
	case f.Count:
		c, err := s.Count(ctx, f.App)
		if err != nil {
			return err
		}
		w.count(f.App, c)
		return nil
	case f.List:
		return s.List(ctx, f.App, filter, func(j store.Job) error { return w.job(ctx, j) })
	case f.Since != "":
		return s.AppHistory(ctx, f.App, since, until, w.attempt)
	}
	for _, j := range cli.Jobs(t, f.App, rest, s.ResolveRecord) {
		if f.Log {
			t.Report(w.log(ctx, j, f.Attempt))
		} else if f.History {
			t.Report(w.history(ctx, j))
		} else if setTo != store.Absent {
			t.Report(set(ctx, s, j, setTo, f.Force))
		} else {
			t.Report(w.show(ctx, j))
		}
	}
	return nil
}

// check checks the flags and the job ids: it returns the states of -set
// and -state (Absent when not given), or a usage error.
func (f *flags) check(rest []string) (setTo, filter store.State, err error) {
	if f.Set != "" {
		if setTo, err = store.ParseState(f.Set); err != nil {
			return store.Absent, store.Absent, cli.Usagef("-set: %v", err)
		}
	}
	if f.Filter != "" {
		if filter, err = store.ParseState(f.Filter); err != nil {
			return store.Absent, store.Absent, cli.Usagef("-state: %v", err)
		}
	}
	switch {
	case (f.List || f.Count) && f.App == "":
		err = cli.Usagef("-list and -count need -a APP")
	case (f.List || f.Count) && len(rest) > 0:
		err = cli.Usagef("-list and -count take no job ids")
	case f.List && f.Count, (f.List || f.Count) && f.Set != "":
		err = cli.Usagef("use one of -list, -count and -set")
	case f.Filter != "" && !f.List:
		err = cli.Usagef("-state goes with -list")
	case f.Force && setTo != store.Completed:
		err = cli.Usagef("-force goes with -set completed")
	case f.History && (f.List || f.Count || f.Set != ""),
		f.Log && (f.List || f.Count || f.Set != "" || f.History):
		err = cli.Usagef("use one of -list, -count, -set, -history and -log")
	case f.Attempt != 0 && !f.Log:
		err = cli.Usagef("-attempt goes with -log")
	case f.Attempt < 0:
		err = cli.Usagef("-attempt %d: want a positive attempt number", f.Attempt)
	case f.Log && f.JSON:
		err = cli.Usagef("-log writes the log as it is, not -json")
	case (f.Since != "" || f.Until != "") && !f.History:
		err = cli.Usagef("-since and -until go with -history")
	case f.Until != "" && f.Since == "":
		err = cli.Usagef("-until goes with -since")
	case f.Since != "" && f.App == "":
		err = cli.Usagef("-history -since needs -a APP")
	case f.Since != "" && len(rest) > 0:
		err = cli.Usagef("-history -since takes no job ids")
	}
	return setTo, filter, err
}

func set(ctx context.Context, s *sched.Sched, j sched.Job, st store.State, force bool) error {
	var err error
	switch {
	case st != store.Completed:
		err = s.SetState(ctx, j.Ref(), st, "set "+string(st))
	case force:
		err = forceComplete(ctx, s, j)
	default:
		err = s.Complete(ctx, store.Lease{Ref: j.Ref()}, "set completed")
		if errors.Is(err, store.ErrHeld) {
			// Exit status Running, unless something worse happens.
			return cli.Exit(Running, fmt.Errorf("%s %s: running on %s; not completed (-force stops it first)", j.App.Name, j.ID, owner(ctx, s, j)))
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%s %s: no such job", j.App.Name, j.ID)
	case err != nil:
		return fmt.Errorf("%s %s: %v", j.App.Name, j.ID, err)
	}
	return nil
}

// owner names the holder of j's lease, for a message.
func owner(ctx context.Context, s *sched.Sched, j sched.Job) string {
	job, err := s.Get(ctx, j.Ref())
	if err != nil || job.Owner == "" {
		return "a worker"
	}
	return job.Owner
}

// forceComplete completes j once no command of it runs: if a worker holds
// it, j is set failed first (which revokes the lease and takes it off its
// queue, so that nobody claims it meanwhile), and completed once the
// holder released the lease (its command is dead) or the lease ended.
func forceComplete(ctx context.Context, s *sched.Sched, j sched.Job) error {
	const outcome = "set completed"
	err := s.Complete(ctx, store.Lease{Ref: j.Ref()}, outcome)
	if !errors.Is(err, store.ErrHeld) {
		return err
	}
	if err := s.SetState(ctx, j.Ref(), store.Failed, "stopping for -set completed -force"); err != nil {
		return err
	}
	tick := time.NewTicker(forcePoll)
	defer tick.Stop()
	for {
		job, err := s.Get(ctx, j.Ref())
		if err != nil {
			return err
		}
		if !job.Claimed(time.Now()) {
			err := s.Complete(ctx, store.Lease{Ref: j.Ref()}, outcome)
			if !errors.Is(err, store.ErrHeld) {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while its command stops: left failed (%v)", ctx.Err())
		case <-tick.C:
		}
	}
}

type writer struct {
	t    *cli.Tool
	s    *sched.Sched
	json bool
}

// jobJSON is one job in -json output.
type jobJSON struct {
	App       string     `json:"app"`
	JobID     string     `json:"job_id"`
	State     string     `json:"state"`
	Queued    bool       `json:"queued"`
	Priority  *int       `json:"priority,omitempty"`
	Owner     string     `json:"owner,omitempty"`
	Until     *time.Time `json:"lease_until,omitempty"`
	Revoked   bool       `json:"lease_revoked,omitempty"`
	NotBefore *time.Time `json:"not_before,omitempty"`
	Attempts  int        `json:"attempts"`
	Outcome   string     `json:"outcome,omitempty"`
	Detail    string     `json:"detail,omitempty"`
	// Blockers (a pending job): each path from the job up to an ancestor
	// that blocks it ("blocked": failed or skipped) or that it waits for
	// ("waiting": absent, queued or running).
	Blockers    []blockerJSON `json:"blockers,omitempty"`
	NotExamined int           `json:"not_examined,omitempty"`
}

type blockerJSON struct {
	Kind string     `json:"kind"`
	Path []stepJSON `json:"path"`
}

type stepJSON struct {
	App      string `json:"app"`
	JobID    string `json:"job_id"`
	State    string `json:"state"`
	Owner    string `json:"owner,omitempty"`
	Attempts int    `json:"attempts"`
	Outcome  string `json:"outcome,omitempty"`
}

// blockersJSON lists b's paths, blocked ones first.
func blockersJSON(b *sched.Blockers, now time.Time) []blockerJSON {
	var out []blockerJSON
	add := func(kind string, paths [][]store.Job) {
		for _, p := range paths {
			bj := blockerJSON{Kind: kind, Path: make([]stepJSON, len(p))}
			for i, j := range p {
				bj.Path[i] = stepJSON{App: j.App, JobID: j.JobID, State: stateName(j.State), Attempts: j.Attempts, Outcome: j.Outcome}
				if j.Claimed(now) {
					bj.Path[i].Owner = j.Owner
				}
			}
			out = append(out, bj)
		}
	}
	add("blocked", b.Blocked)
	add("waiting", b.Waiting)
	return out
}

func stateName(st store.State) string {
	if st == store.Absent {
		return "absent"
	}
	return string(st)
}

// show writes the state of job j.
func (w *writer) show(ctx context.Context, j sched.Job) error {
	job, err := w.s.Get(ctx, j.Ref())
	if err != nil {
		return err
	}
	return w.job(ctx, job)
}

func (w *writer) job(ctx context.Context, j store.Job) error {
	now := time.Now()
	detail, blockers, err := w.s.Why(ctx, j, now)
	if err != nil {
		return err
	}
	if !w.json {
		b := w.t.Stdout
		b.WriteString(j.App + "\t" + j.JobID + "\t" + stateName(j.State))
		if detail != "" {
			b.WriteString("\t" + detail)
		}
		_, err := b.WriteString("\n")
		return err
	}
	out := jobJSON{App: j.App, JobID: j.JobID, State: stateName(j.State), Queued: j.Queued,
		Attempts: j.Attempts, Outcome: j.Outcome, Detail: detail}
	if blockers != nil {
		out.Blockers, out.NotExamined = blockersJSON(blockers, now), blockers.NotExamined
	}
	if j.Queued {
		out.Priority = &j.Priority
	}
	if j.Claimed(now) {
		out.Owner, out.Until, out.Revoked = j.Owner, &j.Until, j.Revoked
	}
	if j.Queued && j.NotBefore.After(now) {
		out.NotBefore = &j.NotBefore
	}
	return w.encode(out)
}

func (w *writer) encode(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.t.Stdout.Write(data)
	_, err = w.t.Stdout.WriteString("\n")
	return err
}

func (w *writer) count(app string, c store.Counts) {
	if w.json {
		m := map[string]any{"app": app, "queued": c.Queued, "claimed": c.Claimed}
		for _, st := range store.States {
			m[string(st)] = c.States[st]
		}
		w.encode(m)
		return
	}
	for _, st := range store.States {
		fmt.Fprintf(w.t.Stdout, "%s\t%s\t%d\n", app, st, c.States[st])
	}
	fmt.Fprintf(w.t.Stdout, "%s\tqueued\t%d\n%s\tclaimed\t%d\n", app, c.Queued, app, c.Claimed)
}

// parseTime reads a -since or -until TIME: RFC 3339
// (2026-01-10T15:04:05Z), a day (2026-01-10, UTC), or a duration before
// now (90m, 24h).
func parseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("bad time %q (want RFC 3339, YYYY-MM-DD, or a duration ago such as 24h)", s)
}

// history writes the recorded attempts of job j, oldest first.
func (w *writer) history(ctx context.Context, j sched.Job) error {
	hs, err := w.s.History(ctx, []store.Ref{j.Ref()})
	if err != nil {
		return err
	}
	for _, a := range hs[0] {
		if err := w.attempt(a); err != nil {
			return err
		}
	}
	return nil
}

// timeLayout is how -history writes times: RFC 3339 in UTC, with
// milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// attemptJSON is one attempt in -history -json output.
type attemptJSON struct {
	App      string  `json:"app"`
	JobID    string  `json:"job_id"`
	Seq      int64   `json:"seq"`
	Start    string  `json:"start"`
	End      string  `json:"end"`
	Duration float64 `json:"duration_s"`
	Worker   string  `json:"worker"`
	Outcome  string  `json:"outcome"`
	Log      string  `json:"log,omitempty"`
}

// attempt writes one attempt: APP JOB_ID SEQ START END DURATION WORKER
// OUTCOME LOG, TAB-separated ("-" for no log), or a JSON object.
func (w *writer) attempt(a store.Attempt) error {
	d := a.End.Sub(a.Start).Round(time.Millisecond)
	start, end := a.Start.UTC().Format(timeLayout), a.End.UTC().Format(timeLayout)
	if w.json {
		return w.encode(attemptJSON{App: a.App, JobID: a.JobID, Seq: a.Seq, Start: start, End: end,
			Duration: d.Seconds(), Worker: a.Worker, Outcome: a.Outcome, Log: a.Log})
	}
	log := a.Log
	if log == "" {
		log = "-"
	}
	_, err := fmt.Fprintf(w.t.Stdout, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n",
		a.App, a.JobID, a.Seq, start, end, d, a.Worker, oneLine(a.Outcome), log)
	return err
}

// oneLine keeps a free text on one record: tabs and newlines become
// spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// log copies the log of job j's attempt seq (0: its latest recorded one)
// to standard output. A log on another machine is an error naming it: its
// file is on that machine's disk (a shared -log-dir, as NFS, has every
// worker's logs on every machine, under the same path).
func (w *writer) log(ctx context.Context, j sched.Job, seq int64) error {
	hs, err := w.s.History(ctx, []store.Ref{j.Ref()})
	if err != nil {
		return err
	}
	as := hs[0]
	name := j.App.Name + " " + j.ID
	if len(as) == 0 {
		return fmt.Errorf("%s: no recorded attempt", name)
	}
	a := as[len(as)-1]
	if seq != 0 {
		i := slices.IndexFunc(as, func(a store.Attempt) bool { return a.Seq == seq })
		if i < 0 {
			return fmt.Errorf("%s: attempt %d is not in the history (it keeps attempts %d to %d)", name, seq, as[0].Seq, a.Seq)
		}
		a = as[i]
	}
	path, err := sched.LogFile(a)
	if err != nil {
		return fmt.Errorf("%s attempt %d: %v", name, a.Seq, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s attempt %d: %v", name, a.Seq, err)
	}
	defer f.Close()
	if _, err := io.Copy(w.t.Stdout, f); err != nil {
		return fmt.Errorf("%s attempt %d: %v", name, a.Seq, err)
	}
	return nil
}
