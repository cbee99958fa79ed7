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
	"os/signal"

	"github.com/stolos-sched/stolos/lib/backend"
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
	Setup    backend.Setup
}

func newTool(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	t := cli.New("stolos-submit", "stolos-submit [-readd] [-priority N] [-q] [-a APP] [JOB_ID ...]", stdin, stdout, stderr)
	f := &flags{}
	t.AppFlag(&f.App, false)
	t.Flags.BoolVar(&f.Readd, "readd", false, "queue jobs again in any state, resetting their attempts and their existing descendants to pending (env STOLOS_READD)")
	t.Flags.IntVar(&f.Priority, "priority", store.DefaultPriority, "queue `N`: lower runs first (env STOLOS_PRIORITY)")
	t.QuietFlag()
	f.Setup.Register(t.Flags)
	return t, f
}

// Tool returns the tool with its flags registered, for documentation checks.
func Tool() *cli.Tool {
	t, _ := newTool(nil, io.Discard, io.Discard)
	return t
}

// Main runs stolos-submit.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	t, f := newTool(stdin, stdout, stderr)
	rest, status, ok := t.Parse(args)
	if !ok {
		return status
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s, status, ok := f.Setup.Open(ctx, t, f.App)
	if !ok {
		return status
	}
	defer s.B.Close()
	status = cli.OK
	var batch []store.SubmitItem
	inBatch := map[store.Ref]bool{}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := s.B.Submit(ctx, batch)
		if err != nil {
			return err
		}
		for i, r := range res {
			report(t, batch[i], r)
		}
		batch = batch[:0]
		clear(inBatch)
		return nil
	}
	var failed error
	err := t.Records(f.App, rest, func(r cli.Record, bad error) bool {
		var j sched.Job
		if bad == nil {
			j, bad = s.Resolve(store.Ref{App: r.App, JobID: r.JobID})
			if bad != nil {
				bad = fmt.Errorf("%s: %v", r.Where, bad)
			}
		}
		if bad != nil {
			t.Errorf("%v", bad)
			status = cli.Failure
			return true
		}
		if inBatch[j.Ref()] {
			return true // the same job twice in a row changes nothing more
		}
		item, err := Item(ctx, s, j, f.Priority, f.Readd)
		if err != nil {
			t.Errorf("%s: %v", r.Where, err)
			status = cli.Failure
			return true
		}
		batch = append(batch, item)
		inBatch[j.Ref()] = true
		if len(batch) >= BatchSize {
			if failed = flush(); failed != nil {
				return false
			}
		}
		return true
	})
	if failed == nil {
		failed = flush()
	}
	if failed != nil {
		return t.Fail(fmt.Errorf("submit: %v", failed))
	}
	if err != nil {
		return t.Fail(err)
	}
	return status
}

// Item makes the submit item of a job: valid_if_or decides skipped, and a
// readd resets the job's descendants.
func Item(ctx context.Context, s *sched.Sched, j sched.Job, priority int, readd bool) (store.SubmitItem, error) {
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
