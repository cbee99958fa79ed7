package exec

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stolos-sched/stolos/lib/cli"
)

// stolos is stolos-exec under the original Stolos runner's name, taking
// its flags too (spelled --app_name, --job_id, --bypass_scheduler,
// --max_retry as the original did, or with dashes): --timeout SECONDS is
// -wait, and --bash_cmd takes every argument after it as words of the
// command, as words after -- do. See stolos(1).

// FrontMain runs stolos.
func FrontMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return mainOf(newFront, bashCmdWords(args), stdin, stdout, stderr)
}

// FrontTool returns stolos with its flags registered, for documentation
// checks.
func FrontTool() *cli.Tool { return cli.Command[*flags]{New: newFront}.Tool() }

func newFront(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	t, f := newNamed("stolos", "stolos -a APP [-job-id JOB_ID] [-bypass-scheduler] [-timeout SECONDS] [-max-retry N] [-bash-cmd WORDS ...]", stdin, stdout, stderr)
	t.Flags.Var((*seconds)(&f.Wait), "timeout", "wait up to `SECONDS` for a job to claim, as -wait (env STOLOS_TIMEOUT)")
	t.Flags.StringVar(&f.BashCmd, "bash-cmd", "", "`WORDS` to append to the app's bash_cmd; every argument after -bash-cmd is one of them (env STOLOS_BASH_CMD)")
	return t, f
}

// bashCmdWords makes the arguments after the first -bash-cmd (--bash_cmd)
// among the flags its one value, joined by spaces, as the original took
// them (argparse's REMAINDER).
func bashCmdWords(args []string) []string {
	for i, a := range args {
		switch a {
		case "--":
			return args
		case "-bash-cmd", "--bash-cmd", "-bash_cmd", "--bash_cmd":
			return append(args[:i:i], "-bash-cmd", strings.Join(args[i+1:], " "))
		}
	}
	return args
}

// words are the words to append to the app's command: those after --, or
// stolos's -bash-cmd.
func words(f *flags, extra []string) ([]string, error) {
	if strings.TrimSpace(f.BashCmd) == "" {
		return extra, nil
	}
	if len(extra) > 0 {
		return nil, cli.Usagef("give the command's words after -bash-cmd or after --, not both")
	}
	return []string{f.BashCmd}, nil
}

// seconds is a duration flag that also takes a number of seconds, as the
// original's --timeout did ("2", "0.5", or "2s").
type seconds time.Duration

func (s *seconds) String() string { return time.Duration(*s).String() }

func (s *seconds) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseFloat(v, 64)
		if nerr != nil || n < 0 || n > 1e9 {
			return errors.New("want a number of seconds or a duration such as 2s")
		}
		d = time.Duration(n * float64(time.Second))
	}
	*s = seconds(d)
	return nil
}
