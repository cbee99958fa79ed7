package submit

import (
	"context"
	"fmt"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// Refused is the exit status of a batch refused by -max-queued: nothing
// was queued.
const Refused = 3

// checkCap refuses the batch items (all the input) when it would take an
// app's queue past max jobs: for each app, the jobs queued now (waiting
// or claimed, as stolos-state -count says) and those the batch would
// queue (new jobs not skipped, and readds of jobs not queued) are
// counted, and one line is reported per app over max (and the error is
// exit status Refused). It is a check
// before Submit, not part of it: submitters running at once may together
// pass max by their batches (DESIGN.md, "Submit cap").
func checkCap(ctx context.Context, t *cli.Tool, s *sched.Sched, items []store.SubmitItem, max int) error {
	adds := map[string]int{}
	var apps []string
	for start := 0; start < len(items); start += BatchSize {
		chunk := items[start:min(start+BatchSize, len(items))]
		refs := make([]store.Ref, len(chunk))
		for i, it := range chunk {
			refs[i] = it.Ref
		}
		jobs, err := s.GetAll(ctx, refs)
		if err != nil {
			return fmt.Errorf("submit: %v", err)
		}
		for i, it := range chunk {
			if _, seen := adds[it.App]; !seen {
				apps = append(apps, it.App)
				adds[it.App] = 0
			}
			if queues(it, jobs[i]) {
				adds[it.App]++
			}
		}
	}
	refused := false
	for _, app := range apps {
		c, err := s.Count(ctx, app)
		if err != nil {
			return fmt.Errorf("submit: %v", err)
		}
		if n := adds[app]; n > 0 && c.Queued+n > max {
			t.Errorf("%s: %d queued and %d more from this input would pass -max-queued %d: nothing queued", app, c.Queued, n, max)
			refused = true
		}
	}
	if refused {
		return cli.Exit(Refused, nil)
	}
	return nil
}

// queues reports whether submitting it would add a job to its app's
// queue, the job being j now.
func queues(it store.SubmitItem, j store.Job) bool {
	switch {
	case it.Skip:
		return false
	case j.State == store.Absent:
		return true
	case it.Readd:
		return !j.Queued
	}
	return false
}
