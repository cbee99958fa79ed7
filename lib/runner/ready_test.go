//go:build linux

package runner

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRunReady: ready_cmd runs first, with the command's placeholders and
// environment; 0 goes on to check_cmd and the command, NotYet and any
// other status end the attempt before anything else runs.
func TestRunReady(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ready, check string
		want         Outcome
		ran          bool // the command ran
	}{
		{ready: "test {client_id} = 42 && test $client_id = 42", want: Outcome{Text: "exit 0", OK: true}, ran: true},
		{ready: "exit 75", want: Outcome{Text: "not ready (ready_cmd exit 75)", NotReady: true}},
		{ready: "exit 3", want: Outcome{Text: "ready_cmd failed: exit 3"}},
		{ready: "kill -KILL $$", want: Outcome{Text: "ready_cmd failed: signal KILL"}},
		{ready: "exit 75", check: "true", want: Outcome{Text: "not ready (ready_cmd exit 75)", NotReady: true}},
		{ready: "true", check: "true", want: Outcome{Text: "already done (check_cmd)", OK: true}},
		{ready: "echo {nope}", want: Outcome{Text: `ready_cmd: bad command: unknown placeholder {nope} in template "echo {nope}"`}},
		{ready: "sleep 10", want: Outcome{Text: "timeout after 300ms"}},
	} {
		dir := t.TempDir()
		j := testJob(dir, "touch $T/ran")
		j.ReadyCmd, j.CheckCmd = tc.ready, tc.check
		if tc.ready == "sleep 10" {
			j.Timeout, j.Grace = 300*time.Millisecond, 0
		}
		o := run(t, context.Background(), j)
		_, err := os.Stat(filepath.Join(dir, "ran"))
		if o != tc.want || (err == nil) != tc.ran {
			t.Errorf("ready %q check %q: %+v, ran %v; want %+v, ran %v", tc.ready, tc.check, o, err == nil, tc.want, tc.ran)
		}
	}
}
