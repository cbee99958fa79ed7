package store

import "testing"

func TestAttemptResult(t *testing.T) {
	for _, c := range []struct {
		outcome string
		want    Result
	}{
		{"exit 0", ResultCompleted},
		{"already done (check_cmd)", ResultCompleted},
		{"exit 3", ResultFailed},
		{"exit 0, but the completion could not be recorded: lease lost", ResultFailed},
		{"signal KILL", ResultFailed},
		{"timeout after 30s", ResultFailed},
		{"check failed: exit 1", ResultFailed},
		{AbandonedOutcome("stolos-exec@h:12"), ResultAbandoned},
		{ReleasedOutcome(false), ResultStopped},
		{ReleasedOutcome(true), ResultStopped},
		{"", ResultFailed},
	} {
		if got := (Attempt{Outcome: c.outcome}).Result(); got != c.want {
			t.Errorf("Result of %q: %q, want %q", c.outcome, got, c.want)
		}
	}
}
