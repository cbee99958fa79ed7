// Package claim is stolos-claim: it takes up to -n runnable jobs of an app
// off its queue under leases and writes their job ids, one per line, as it
// claims them. A claimed job whose parents are not all completed is not
// written: its missing parents are queued and it waits for them. Like grep,
// it exits 0 when it claimed work, 1 when there was none, 2 on error.
// See stolos-claim(1).
package claim

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stolos-sched/stolos/lib/backend"
	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// DefaultLease is the lease of -lease (shared with stolos-exec).
const DefaultLease = time.Minute

type flags struct {
	App   string
	N     int
	Wait  time.Duration
	Lease time.Duration
	Setup backend.Setup
}

func newTool(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	t := cli.New("stolos-claim", "stolos-claim -a APP [-n N] [-wait D] [-lease D]", stdin, stdout, stderr)
	f := &flags{}
	t.AppFlag(&f.App, true)
	t.Flags.IntVar(&f.N, "n", 1, "claim up to `N` jobs (env STOLOS_N)")
	t.Flags.DurationVar(&f.Wait, "wait", 0, "wait up to `D` for work to arrive (env STOLOS_WAIT)")
	LeaseFlag(t, &f.Lease)
	t.QuietFlag()
	f.Setup.Register(t.Flags)
	return t, f
}

// LeaseFlag registers -lease, shared with stolos-exec.
func LeaseFlag(t *cli.Tool, p *time.Duration) {
	t.Flags.DurationVar(p, "lease", DefaultLease, "hold claimed jobs for `D`; a lease not renewed expires and the job is claimable again (env STOLOS_LEASE)")
}

// Tool returns the tool with its flags registered, for documentation checks.
func Tool() *cli.Tool {
	t, _ := newTool(nil, io.Discard, io.Discard)
	return t
}

// Owner names this process as a lease holder.
func Owner(tool string) string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s@%s:%d", tool, host, os.Getpid())
}

// Main runs stolos-claim.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	t, f := newTool(stdin, stdout, stderr)
	rest, status, ok := t.Parse(args)
	if !ok {
		return status
	}
	switch {
	case len(rest) > 0:
		return t.Usagef("unexpected argument %q", rest[0])
	case f.App == "":
		return t.Usagef("no app: give -a APP or set STOLOS_APP_NAME")
	case f.N < 1:
		return t.Usagef("-n %d: want at least 1", f.N)
	case f.Lease <= 0:
		return t.Usagef("-lease %v: want a positive duration", f.Lease)
	case f.Wait < 0:
		return t.Usagef("-wait %v: want a duration of 0 or more", f.Wait)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, _, ok := f.Setup.Open(ctx, t, f.App)
	if !ok {
		// Like grep, every error is 2: 1 would read as "no work".
		return cli.Usage
	}
	defer s.B.Close()
	req := store.ClaimRequest{App: f.App, Owner: Owner("stolos-claim"), N: f.N, Lease: f.Lease, Transferable: true}
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
	if err != nil {
		t.Fail(err)
		return cli.Usage // grep's "error" status
	}
	if n == 0 {
		return cli.Failure
	}
	return cli.OK
}
