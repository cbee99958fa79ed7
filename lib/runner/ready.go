package runner

import (
	"context"
	"strconv"
)

// NotYet is the exit status of a ready_cmd that says "not yet": the job's
// inputs are not there, run it later. It is EX_TEMPFAIL of sysexits.h
// ("a temporary failure; the user is invited to retry").
const NotYet = 75

// NotReadyText is the outcome text of a ready_cmd that exited NotYet.
var NotReadyText = "not ready (ready_cmd exit " + strconv.Itoa(NotYet) + ")"

// ready runs j's ready_cmd (argv) and reports whether the attempt goes
// on; if not, the outcome says why: NotReady for NotYet, a failure for
// any other status, the stop for a ready_cmd stopped (timeout, deadline,
// cancel).
func (r *Reaper) ready(ctx context.Context, j Job, argv []string) (Outcome, bool, error) {
	o, ended, err := r.run(ctx, j, argv)
	switch {
	case err != nil || !ended:
		return o, false, err
	case o.OK:
		return o, true, nil
	case o.Text == "exit "+strconv.Itoa(NotYet):
		return Outcome{Text: NotReadyText, NotReady: true}, false, nil
	}
	return Outcome{Text: "ready_cmd failed: " + o.Text}, false, nil
}
