package store

import (
	"strings"
	"time"
)

// The outcome of a job whose readiness check said "not yet" (Defer) says
// since when it has waited: the store keeps it with the job, so that every
// worker, and one that starts after a crash, measures the readiness
// timeout from the first "not yet" of a run of them. Any other outcome
// (an attempt's, stolos-state -set's) ends the run; a readd of a job that
// waits, which is queued already, does not.
const waitingPrefix = "waiting for readiness since "

// WaitingOutcome is the outcome Defer records for a job waiting for
// readiness since since (RFC 3339, UTC, to the second).
func WaitingOutcome(since time.Time) string {
	return waitingPrefix + since.UTC().Format(time.RFC3339)
}

// WaitingSince reports since when a job whose last outcome is outcome has
// waited for readiness, if it has.
func WaitingSince(outcome string) (time.Time, bool) {
	s, ok := strings.CutPrefix(outcome, waitingPrefix)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}
