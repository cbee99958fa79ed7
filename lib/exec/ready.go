package exec

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/runner"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// notReady records that the ready_cmd of the job of app a held under l
// said "not yet" (sched.NotReady) and reports it: a warning while the job
// waits (it is no attempt, and no failure), a failed attempt under prefix
// once ready_timeout has passed. job names the job ("APP JOB_ID").
func (w *worker) notReady(ctx context.Context, a *config.App, l store.Lease, job, prefix, logNote string) {
	r, err := w.s.NotReady(ctx, a, l, w.now())
	switch {
	case err != nil:
		// Nothing ran: the lease goes back with no attempt recorded, so
		// the job is claimable again at once rather than at the lease's
		// end as an abandoned attempt.
		l.Log = ""
		if !errors.Is(err, store.ErrLeaseLost) {
			w.release(l)
		}
		w.notRecorded(l, job+": ", runner.NotReadyText, err)
	case r.TimedOut:
		w.t.Report(fmt.Errorf("%s%s%s, failed", prefix, r.Outcome, logNote))
	default:
		w.t.Warnf("%s: %s%s, waiting since %s; next check in %s", job, runner.NotReadyText, logNote,
			r.Since.UTC().Format(time.RFC3339), sched.ShortDuration(r.Poll))
	}
}
