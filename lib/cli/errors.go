package cli

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"
)

// Errors and exit statuses. A tool's run function returns an error, and
// Run prints it (one line, "stolos-x: ...") and maps it to the tool's exit
// status: an error made by Usagef or Invalid is a usage error, one made by
// Exit carries its own status, any other is a failure (Tool.FailStatus).
// Errors that do not stop the tool (a bad input line, a job that failed)
// go to Report as they happen; the exit status is then the most serious
// of everything reported (Tool.Severity). The man pages' EXIT STATUS
// sections are the contract these statuses keep.

// exitError is an error with the exit status it earns.
type exitError struct {
	status int
	err    error // nil: there is nothing to print
	usage  bool  // print the usage line after it
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.status)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// Usagef is a usage error (exit status Usage) about the command line,
// printed with the usage line.
func Usagef(format string, args ...any) error {
	return &exitError{status: Usage, err: fmt.Errorf(format, args...), usage: true}
}

// NoArgs is the usage error of a tool that takes no arguments given some
// (rest, what its flags left), or nil.
func NoArgs(rest []string) error {
	if len(rest) > 0 {
		return Usagef("unexpected argument %q", rest[0])
	}
	return nil
}

// Invalid is a usage error (exit status Usage) printed without the usage
// line, which would not help: a bad environment value or configuration,
// an unknown app.
func Invalid(err error) error { return &exitError{status: Usage, err: err} }

// Exit is an error of exit status status; err (if not nil) is printed.
// Exit(OK, nil) ends a tool quietly and successfully.
func Exit(status int, err error) error { return &exitError{status: status, err: err} }

// Run parses args (Parse) and calls run with the arguments left and a
// context that ends with one of t.Signals, then reports what run returned
// (Report), flushes stdout, and returns the exit status.
func (t *Tool) Run(args []string, run func(ctx context.Context, rest []string) error) int {
	rest, err := t.Parse(args)
	if err == nil {
		ctx := context.Background()
		if len(t.Signals) > 0 {
			var stop context.CancelFunc
			ctx, stop = signal.NotifyContext(ctx, t.Signals...)
			defer stop()
		}
		err = run(ctx, rest)
	}
	t.Report(err)
	if err := t.Stdout.Flush(); err != nil {
		t.Report(err)
	}
	return t.status
}

// Report prints err, if there is one, on one line (a usage error with the
// usage line; a closed pipe not at all) and makes the exit status the more
// serious of its status and that of the errors reported before it.
func (t *Tool) Report(err error) {
	if err == nil {
		return
	}
	status := t.FailStatus
	if status == OK {
		status = Failure
	}
	msg := err
	var e *exitError
	if errors.As(err, &e) {
		status = e.status
		if e.err == nil {
			msg = nil
		}
	}
	if msg != nil && !errors.Is(msg, syscall.EPIPE) {
		t.Errorf("%v", msg)
		if e != nil && e.usage {
			fmt.Fprintf(t.Stderr, "usage: %s\n", t.Synopsis)
		}
	}
	if t.rank(status) > t.rank(t.status) {
		t.status = status
	}
}

// Status is the exit status of what was reported so far.
func (t *Tool) Status() int { return t.status }

// rank is how serious status is: its place in t.Severity, else itself.
func (t *Tool) rank(status int) int {
	for i, s := range t.Severity {
		if s == status {
			return i
		}
	}
	return status
}
