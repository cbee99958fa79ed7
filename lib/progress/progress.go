// Package progress is stolos-progress: it reads jobs (arguments, stdin
// lines or records), takes them and all their ancestors as a set, and
// writes how far along the set is: per app and in all, the jobs by status
// (completed, running, queued, waiting, failed, skipped, blocked,
// unqueued), the rate of completions and an ETA; as lines, as JSON (-json),
// or as progress bars redrawn in place on a terminal. -watch repeats every
// -interval; -wait-all repeats until nothing in the set will move any more and
// exits 0 only if every job completed. See stolos-progress(1).
package progress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// Exit statuses of -wait-all besides 0 (every job completed), 1 and 2.
const (
	NotCompleted = 3 // the wait ended with jobs that will not complete
	TimedOut     = 4 // -timeout passed first
)

// DefaultInterval is the default of -interval.
const DefaultInterval = 5 * time.Second

type flags struct {
	App      string
	Watch    bool
	Wait     bool
	Interval time.Duration
	Timeout  time.Duration
	JSON     bool
	Setup    sched.Setup
	out      io.Writer // the tool's stdout, to tell a terminal
}

func newTool(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	t := cli.New("stolos-progress", "stolos-progress [-watch | -wait-all [-timeout D]] [-interval D] [-json] [-a APP] [JOB_ID ...]", stdin, stdout, stderr)
	f := &flags{out: stdout}
	t.AppFlag(&f.App, false)
	t.Flags.BoolVar(&f.Watch, "watch", false, "report again every -interval, until interrupted (env STOLOS_WATCH)")
	t.Flags.BoolVar(&f.Wait, "wait-all", false, "report every -interval until no job will move any more; exit 0 only if all completed (env STOLOS_WAIT_ALL)")
	t.Flags.DurationVar(&f.Interval, "interval", DefaultInterval, "with -watch or -wait-all: report every `D` (env STOLOS_INTERVAL)")
	t.Flags.DurationVar(&f.Timeout, "timeout", 0, "with -wait-all: give up after `D`, exit status 4 (env STOLOS_TIMEOUT)")
	t.Flags.BoolVar(&f.JSON, "json", false, "write JSON objects, one per line (env STOLOS_JSON)")
	t.QuietFlag()
	f.Setup.Register(t.Flags)
	t.Signals = []os.Signal{os.Interrupt}
	t.Severity = []int{cli.OK, NotCompleted, TimedOut, cli.Failure, cli.Usage}
	return t, f
}

// command is stolos-progress.
var command = cli.Command[*flags]{New: newTool, Run: run}

// Tool returns the tool with its flags registered, for documentation checks.
func Tool() *cli.Tool { return command.Tool() }

// Main runs stolos-progress.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return command.Main(args, stdin, stdout, stderr)
}

// run checks the flags, builds the set from the jobs read, and reports on
// it once, or again and again (-watch, -wait-all).
func run(ctx context.Context, t *cli.Tool, f *flags, rest []string) error {
	switch {
	case f.Interval <= 0:
		return cli.Usagef("-interval: want a duration above 0, got %v", f.Interval)
	case f.Timeout < 0:
		return cli.Usagef("-timeout: want a duration of at least 0, got %v", f.Timeout)
	case f.Timeout > 0 && !f.Wait:
		return cli.Usagef("-timeout goes with -wait-all")
	}
	s, err := f.Setup.Open(ctx, f.App, t.Warnf)
	if err != nil {
		return err
	}
	defer s.Close()
	st := newSet(MaxJobs)
	for _, j := range cli.Jobs(t, f.App, rest, s.ResolveRecord) {
		if err := st.add(s, j); err != nil {
			return err
		}
	}
	w := newOutput(t.Stdout, f.JSON, f.out)
	p := newPoller(s, st)
	start := time.Now()
	var last *Report
	for {
		now := time.Now()
		status, via, err := p.poll(ctx, now)
		if err != nil {
			if ctx.Err() != nil {
				return interrupted(f.Wait)
			}
			return err
		}
		r := p.report(status, now)
		if err := w.write(r); err != nil {
			return err
		}
		if err := t.Stdout.Flush(); err != nil {
			return err
		}
		switch {
		case !f.Watch && !f.Wait:
			return nil
		case f.Wait && ended(r, last):
			return verdict(t, p, status, via, r, now)
		case f.Wait && f.Timeout > 0 && !time.Now().Before(start.Add(f.Timeout)):
			return cli.Exit(TimedOut, fmt.Errorf("timed out after %v: %d of %d jobs not completed", f.Timeout, r.All.Total-r.All.By[Completed], r.All.Total))
		}
		last = &r
		next := f.Interval
		if f.Wait && f.Timeout > 0 {
			next = min(next, time.Until(start.Add(f.Timeout)))
		}
		timer := time.NewTimer(next)
		select {
		case <-ctx.Done():
			timer.Stop()
			return interrupted(f.Wait)
		case <-timer.C:
		}
	}
}

// interrupted ends a run on SIGINT: a wait in failure, -watch in success.
func interrupted(wait bool) error {
	if wait {
		return errors.New("interrupted")
	}
	return nil
}

// ended says whether the wait is over at report r (last: the report
// before, or nil): no job will move any more. Jobs that nothing queued
// leads to may be children that a bubble-down in steps has yet to queue,
// so with any of them the wait also needs a report before with the same
// counts.
func ended(r Report, last *Report) bool {
	if r.All.Left() > 0 {
		return false
	}
	return r.All.By[Unqueued] == 0 || (last != nil && last.All.By == r.All.By)
}

// verdict ends a wait: nil if every job completed; otherwise each job that
// did not, one line on stderr in the set's order (parents first), and an
// error of status NotCompleted.
func verdict(t *cli.Tool, p *poller, status []Status, via []int32, r Report, now time.Time) error {
	if r.All.By[Completed] == r.All.Total {
		return nil
	}
	for i, s := range status {
		ref := p.st.refs[i]
		switch s {
		case Failed:
			t.Errorf("%s: failed%s", ref, attempts(p.ends[int32(i)]))
		case Skipped:
			t.Errorf("%s: skipped", ref)
		case Blocked:
			t.Errorf("%s: %s", ref, p.st.blockedBy(int32(i), via, p.ends, now))
		case Unqueued:
			t.Errorf("%s: not queued, and no job queued needs it", ref)
		}
	}
	left := r.All
	left.By[Completed] = 0
	return cli.Exit(NotCompleted, fmt.Errorf("%d of %d jobs will not complete: %s", r.All.Total-r.All.By[Completed], r.All.Total, left.counts()))
}

// attempts is " (3 attempts; last: exit 1)", what a failed job's record
// says (sched.Record), or "".
func attempts(j store.Job) string {
	if note := sched.Record(j); note != "" {
		return " (" + note + ")"
	}
	return ""
}

// output writes reports: as JSON, as progress bars on a terminal, or as
// plain lines.
type output struct {
	w    io.Writer
	json bool
	tty  *tty
}

// newOutput writes to w; out is the tool's stdout, drawn on in place if it
// is a terminal (and not -json).
func newOutput(w io.Writer, json bool, out io.Writer) *output {
	o := &output{w: w, json: json}
	if cols, ok := terminal(out); ok && !json {
		o.tty = &tty{w: w, cols: cols}
	}
	return o
}

func (o *output) write(r Report) error {
	switch {
	case o.json:
		return r.writeJSON(o.w)
	case o.tty != nil:
		return o.tty.draw(r)
	}
	return r.writePlain(o.w)
}
