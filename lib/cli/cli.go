// Package cli carries the conventions every stolos tool shares: flags read
// by ff from the command line, STOLOS_* environment variables and a -config
// file (in that order of precedence); exit statuses 0, 1 and 2; one-line
// errors on stderr that start with the tool's name; -version; reading
// records from arguments or stdin and writing buffered lines to stdout.
package cli

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Version is the version printed by -version, set at build time with
// -ldflags "-X github.com/stolos-sched/stolos/lib/cli.Version=v1.2.3".
var Version = "devel"

// Exit statuses.
const (
	OK      = 0 // success (for claim: work was claimed)
	Failure = 1 // a runtime failure, a bad input line (for claim: no work)
	Usage   = 2 // a usage error: bad flag, bad environment value, bad config
)

// Tool is one run of a tool: its name, streams and flags.
type Tool struct {
	Name     string
	Synopsis string // the usage line after "usage: "
	Stdin    io.Reader
	Stdout   *bufio.Writer
	Stderr   io.Writer
	Flags    *flag.FlagSet
	Quiet    bool
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Signals end the context of Run's run function; with none, they
	// have their default effect.
	Signals []os.Signal
	// FailStatus is the exit status of an error that names none (see
	// Report); zero means Failure.
	FailStatus int
	// Severity lists exit statuses from the least serious to the most;
	// a status not in it ranks by its value (nil: 0 < 1 < 2 < 3).
	Severity []int

	stdout io.Writer
	status int    // the most serious status reported
	jobIDs jobIDs // -job-id (JobIDFlag)
}

// New makes a tool with its flag set.
func New(name, synopsis string, stdin io.Reader, stdout, stderr io.Writer) *Tool {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("config", "", "read flags from `FILE` (lines \"name value\"; env STOLOS_CONFIG)")
	t := &Tool{Name: name, Synopsis: synopsis, Stderr: stderr, Flags: fs, stdout: stdout}
	t.Stdout = bufio.NewWriterSize(stdout, 64<<10)
	// Flush what is written before waiting for more input, so that a tool
	// in the middle of a pipeline answers each line as it comes without a
	// write per line.
	t.Stdin = &flushReader{r: stdin, w: t.Stdout}
	return t
}

// QuietFlag registers -q.
func (t *Tool) QuietFlag() {
	t.Flags.BoolVar(&t.Quiet, "q", false, "quiet: no warnings or progress on stderr (env STOLOS_Q)")
}

// flagError rewords the flag package's errors on one line.
func flagError(err error) string {
	s := err.Error()
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.TrimPrefix(s, "error parsing commandline arguments: ")
	return s
}

// Help returns the usage text of -h.
func (t *Tool) Help() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "usage: %s\n\nflags:\n", t.Synopsis)
	t.Flags.SetOutput(&b)
	t.Flags.PrintDefaults()
	t.Flags.SetOutput(io.Discard)
	fmt.Fprintf(&b, "\nSee %s(1).\n", t.Name)
	return b.String()
}

// Errorf prints a one-line error: "stolos-x: message".
func (t *Tool) Errorf(format string, args ...any) {
	t.Stdout.Flush()
	fmt.Fprintf(t.Stderr, "%s: %s\n", t.Name, oneLine(fmt.Sprintf(format, args...)))
}

// Warnf prints a one-line warning unless -q.
func (t *Tool) Warnf(format string, args ...any) {
	if !t.Quiet {
		t.Errorf(format, args...)
	}
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", " ")
}

type flushReader struct {
	r io.Reader
	w *bufio.Writer
}

func (f *flushReader) Read(p []byte) (int, error) {
	if f.w.Buffered() > 0 {
		if err := f.w.Flush(); err != nil {
			return 0, err
		}
	}
	if f.r == nil {
		return 0, io.EOF
	}
	return f.r.Read(p)
}

// firstWins is a string flag value that keeps the first value set. ff sets
// flags from the command line, then the environment, then the config file,
// so two flag names sharing one firstWins (-a and -app-name) keep the
// precedence flag > env > config across both names.
type firstWins struct {
	p   *string
	set bool
}

func (f *firstWins) String() string {
	if f == nil || f.p == nil {
		return ""
	}
	return *f.p
}

func (f *firstWins) Set(s string) error {
	if !f.set {
		*f.p, f.set = s, true
	}
	return nil
}

// AppFlag registers -a APP and its long form -app-name (env
// STOLOS_APP_NAME, as in the original).
func (t *Tool) AppFlag(p *string, required bool) {
	v := &firstWins{p: p}
	use := "the app (env STOLOS_APP_NAME)"
	if !required {
		use = "the app of bare job ids (env STOLOS_APP_NAME); without it input lines are APP<TAB>JOB_ID records"
	}
	t.Flags.Var(v, "a", use)
	t.Flags.Var(v, "app-name", "same as -a")
}
