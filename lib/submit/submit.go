// Package submit is stolos-submit: it reads jobs (arguments, or stdin lines
// of bare job ids with -a, or APP<TAB>JOB_ID records) and queues them in
// the job-state backend, in batches. It writes nothing to stdout; notes on
// jobs left alone go to stderr. See stolos-submit(1).
package submit

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// BatchSize is how many jobs go to the backend in one transaction.
const BatchSize = 1000

type flags struct {
	App      string
	Readd    bool
	Priority int
	Max      int // -max-queued
	Setup    sched.Setup
}

func newTool(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	t := cli.New("stolos-submit", "stolos-submit [-readd] [-priority N] [-q] [-a APP] [JOB_ID ...]", stdin, stdout, stderr)
	f := &flags{}
	t.AppFlag(&f.App, false)
	t.JobIDFlag()
	t.Flags.BoolVar(&f.Readd, "readd", false, "queue jobs again in any state, resetting their attempts and their existing descendants to pending (env STOLOS_READD)")
	t.Flags.IntVar(&f.Priority, "priority", store.DefaultPriority, "queue `N`: lower runs first (env STOLOS_PRIORITY)")
	t.Flags.IntVar(&f.Max, "max-queued", 0, "queue nothing, and exit 3, if the input would take an app past `N` queued jobs; 0: no cap (env STOLOS_MAX_QUEUED)")
	t.QuietFlag()
	f.Setup.Register(t.Flags)
	t.Signals = []os.Signal{os.Interrupt}
	return t, f
}

// command is stolos-submit.
var command = cli.Command[*flags]{New: newTool, Run: run}

// Tool returns the tool with its flags registered, for documentation checks.
func Tool() *cli.Tool { return command.Tool() }

// Main runs stolos-submit.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return command.Main(args, stdin, stdout, stderr)
}

func run(ctx context.Context, t *cli.Tool, f *flags, rest []string) error {
	if f.Max < 0 {
		return cli.Usagef("-max-queued %d: want a number of jobs, or 0 for no cap", f.Max)
	}
	s, err := f.Setup.Open(ctx, f.App, t.Warnf)
	if err != nil {
		return err
	}
	defer s.Close()
	var batch []store.SubmitItem
	inBatch := map[store.Ref]bool{}
	// With -max-queued the batch is the whole input, checked before
	// any of it is queued.
	flush := func() error {
		if f.Max > 0 {
			if err := checkCap(ctx, t, s, batch, f.Max); err != nil {
				return err
			}
		}
		for start := 0; start < len(batch); start += BatchSize {
			step := batch[start:min(start+BatchSize, len(batch))]
			res, err := s.Submit(ctx, step)
			if err != nil {
				return fmt.Errorf("submit: %v", err)
			}
			for i, r := range res {
				report(t, step[i], r)
			}
		}
		batch = batch[:0]
		clear(inBatch)
		return nil
	}
	for r, j := range cli.Jobs(t, f.App, rest, s.ResolveRecord) {
		if inBatch[j.Ref()] {
			continue // the same job twice in a row changes nothing more
		}
		item, err := s.Item(ctx, j, f.Priority, f.Readd)
		if err != nil {
			t.Report(fmt.Errorf("%s: %v", r.Where, err))
			continue
		}
		batch = append(batch, item)
		inBatch[j.Ref()] = true
		if len(batch) >= BatchSize && f.Max == 0 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func report(t *cli.Tool, it store.SubmitItem, r store.SubmitResult) {
	switch r {
	case store.CreatedSkipped:
		t.Warnf("%s %s: skipped (valid_if_or)", it.App, it.JobID)
	case store.Exists:
		t.Warnf("%s %s: exists, left alone (use -readd to queue it again)", it.App, it.JobID)
	case store.AlreadyQueued:
		t.Warnf("%s %s: already queued", it.App, it.JobID)
	}
}
