package exec

import (
	"strings"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/config"
)

// hasCommand refuses to run jobs of app a when it has nothing to run: a
// bash app with no bash_cmd (or bash_opts) and no words after "--". That is
// a mistake in the configuration or the command line, not a failure of
// each job: nothing is claimed, no attempt is counted (the original ran
// such a job again and again).
func hasCommand(a *config.App, extra []string) error {
	if a == nil || a.Exec.JobType != "bash" || strings.TrimSpace(a.Exec.BashCmd+strings.Join(extra, "")) != "" {
		return nil
	}
	return cli.Invalid(&config.Error{App: a.Name, Err: "no command to run: set its bash_cmd, or give the command's words after --"})
}
