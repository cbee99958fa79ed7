package cli

import (
	"fmt"
	"time"
)

// NowEnv names the test clock: an RFC 3339 time that the tools that read
// the clock for a decision (stolos-expand's relative dates, stolos-exec's
// readiness timeout) take for now, so that a test's result does not
// depend on when it runs. It is for tests; leases and delays keep the
// real clock.
const NowEnv = "STOLOS_NOW"

// Clock returns the tool's clock: time.Now, or a fixed time when NowEnv
// is set. A value that is not RFC 3339 is an error naming it.
func (t *Tool) Clock() (func() time.Time, error) {
	s := t.getenv(NowEnv)
	if s == "" {
		return time.Now, nil
	}
	now, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: not an RFC 3339 time such as 2026-12-07T17:00:00Z", NowEnv, s)
	}
	return func() time.Time { return now }, nil
}
