package exec

import (
	"errors"
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
	return &config.Error{App: a.Name, Err: "no command to run: set its bash_cmd, or give the command's words after --"}
}

// haveCommands checks that every app named has a command (hasCommand): a
// usage error if not. With -all, the apps without one are left out, each
// with a warning (a configuration often has apps that only the graph
// tools read), and it is an error only when none is left.
func (a *apps) haveCommands(cfg *config.Config, extra []string, warnf func(string, ...any)) error {
	var keep []string
	for _, n := range a.names {
		err := hasCommand(cfg.App(n), extra)
		switch {
		case err == nil:
			keep = append(keep, n)
		case !a.all:
			return cli.Invalid(err)
		default:
			warnf("%v; its jobs are not claimed", err)
		}
	}
	if len(keep) == 0 {
		return cli.Invalid(errors.New("-all: no app has a command to run: set their bash_cmd, or give the command's words after --"))
	}
	a.names = keep
	return nil
}
