// Package claim is stolos-claim: it takes up to -n runnable jobs of an app
// off its queue under leases and writes their job ids, one per line, as it
// claims them. A claimed job whose parents are not all completed is not
// written: its missing parents are queued and it waits for them. Like grep,
// it exits 0 when it claimed work, 1 when there was none, 2 on error.
// See stolos-claim(1).
package claim

import (
	"context"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

type flags struct {
	App   string
	N     int
	Wait  time.Duration
	Lease time.Duration
	Setup sched.Setup
}

func newTool(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	t := cli.New("stolos-claim", "stolos-claim -a APP [-n N] [-wait D] [-lease D]", stdin, stdout, stderr)
	f := &flags{}
	t.AppFlag(&f.App, true)
	t.Flags.IntVar(&f.N, "n", 1, "claim up to `N` jobs (env STOLOS_N)")
	t.Flags.DurationVar(&f.Wait, "wait", 0, "wait up to `D` for work to arrive (env STOLOS_WAIT)")
	t.Flags.DurationVar(&f.Lease, "lease", 0, "hold the claimed jobs for at most `D` while they wait for a worker; 0: until a worker takes them over (env STOLOS_LEASE)")
	t.QuietFlag()
	f.Setup.Register(t.Flags)
	t.Signals = []os.Signal{os.Interrupt, syscall.SIGTERM}
	// Like grep, every error is 2: 1 would read as "no work".
	t.FailStatus = cli.Usage
	return t, f
}

// command is stolos-claim.
var command = cli.Command[*flags]{New: newTool, Run: run}

// Tool returns the tool with its flags registered, for documentation checks.
func Tool() *cli.Tool { return command.Tool() }

// Main runs stolos-claim.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return command.Main(args, stdin, stdout, stderr)
}

func run(ctx context.Context, t *cli.Tool, f *flags, rest []string) error {
	switch {
	case len(rest) > 0:
		return cli.NoArgs(rest)
	case f.App == "":
		return cli.Usagef("no app: give -a APP or set STOLOS_APP_NAME")
	case f.N < 1:
		return cli.Usagef("-n %d: want at least 1", f.N)
	case f.Lease < 0:
		return cli.Usagef("-lease %v: want a duration of 0 or more", f.Lease)
	case f.Wait < 0:
		return cli.Usagef("-wait %v: want a duration of 0 or more", f.Wait)
	}
	s, err := f.Setup.Open(ctx, f.App, t.Warnf)
	if err != nil {
		return err
	}
	defer s.Close()
	// The jobs wait in a pipe for a worker, however long: their
	// transferable leases last until a stolos-exec takes them over
	// (sched.Hold), unless -lease bounds them (DESIGN.md section 4).
	lease := f.Lease
	if lease == 0 {
		lease = sched.Hold
	}
	req := store.ClaimRequest{App: f.App, Owner: sched.Owner("stolos-claim"), N: f.N, Lease: lease, Transferable: true}
	if a := s.Cfg.App(f.App); a != nil {
		// A job whose workers keep dying ends here too (DESIGN.md 4).
		req.MaxRetry = sched.MaxRetry(a, sched.DefaultMaxRetry)
	}
	n, err := s.Claim(ctx, req, f.Wait, func(l store.Lease) error {
		t.Stdout.WriteString(l.JobID)
		t.Stdout.WriteByte('\n')
		return t.Stdout.Flush()
	}, func(p sched.Parked) {
		if p.Failed {
			t.Errorf("%v", p)
		} else {
			t.Warnf("%v", p)
		}
	})
	switch {
	case err != nil:
		return err
	case n == 0:
		return cli.Exit(cli.Failure, nil) // grep's "no match"
	}
	return nil
}
