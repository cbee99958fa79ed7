package store

import "strings"

// The outcomes of an attempt that succeeded (lib/runner's Outcome.OK):
// the command exited 0, or check_cmd found the work already done.
const (
	OutcomeOK   = "exit 0"
	OutcomeDone = "already done (check_cmd)"
)

// Result is what an attempt's outcome amounts to, in four kinds: how
// stolos-metrics counts attempts.
type Result string

const (
	// ResultCompleted: it succeeded (OutcomeOK, OutcomeDone); the job
	// was completed by it.
	ResultCompleted Result = "completed"
	// ResultFailed: the job's own failure, a failed attempt (exit 3,
	// signal KILL, timeout after 30s, check failed: ..., ...).
	ResultFailed Result = "failed"
	// ResultAbandoned: its worker was lost (AbandonedOutcome); a failed
	// attempt too.
	ResultAbandoned Result = "abandoned"
	// ResultStopped: its lease was given back while the command ran
	// (ReleasedOutcome: interrupted, or revoked by an operator); not a
	// failed attempt.
	ResultStopped Result = "stopped"
)

// Results lists the results in display order.
var Results = []Result{ResultCompleted, ResultFailed, ResultAbandoned, ResultStopped}

// Result says what the attempt's outcome amounts to.
func (a Attempt) Result() Result {
	switch o := a.Outcome; {
	case o == OutcomeOK || o == OutcomeDone:
		return ResultCompleted
	case o == ReleasedOutcome(false) || o == ReleasedOutcome(true):
		return ResultStopped
	case strings.HasPrefix(o, abandonedPrefix) && strings.HasSuffix(o, abandonedSuffix):
		return ResultAbandoned
	}
	return ResultFailed
}
