// Package runner runs one attempt of a job's command for stolos-exec.
//
// A job of type "bash" (the default) runs its app's bash_cmd through
// /bin/sh -c, as the original Stolos did (not bash), after filling the
// command's placeholders with shell-quoted values (see Command). Any other
// job type X runs the program stolos-plugin-X, found in the job's PATH, with
// the words after "--" on stolos-exec's command line as its arguments.
//
// The command's environment is Job.Environ (stolos-exec passes its own), then
// the app's Env, then one variable per identifier of the job id, named as the
// identifier (date=20140601, client_id=42), then STOLOS_APP_NAME and
// STOLOS_JOB_ID; a later one replaces an earlier one of the same name. Its
// standard input is /dev/null, its output goes to Job.Stdout and Job.Stderr.
//
// The command runs in a process group of its own under a small watchdog, the
// reaper (see ReaperMain), a re-executed copy of the calling program. When
// the attempt times out or its context is canceled, the whole group gets
// SIGTERM, then SIGKILL after Job.Grace. When the command ends by itself,
// whatever it left running in its group gets the same treatment. When the
// calling program dies, even by kill -9, the reaper kills the whole group.
// A process that leaves the group (setsid) escapes all this.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Shell is the shell that runs bash jobs' commands and check_cmd.
const Shell = "/bin/sh"

// pipeDrain bounds how long Run waits, after the reaper has exited, for the
// output of a process that escaped the group to stop (only when Stdout or
// Stderr is not an *os.File).
const pipeDrain = time.Second

// Ident is one identifier of a parsed job id: its name in the app's template
// and its normalized value.
type Ident struct {
	Name, Value string
}

// Job is one job, as much as running it needs.
type Job struct {
	App, JobID string
	Idents     []Ident // the job id's identifiers, in template order
	// JobType is "bash" ("" means bash) or X for the plugin program
	// stolos-plugin-X, looked up in the job's PATH.
	JobType string
	BashCmd string // the app's bash_cmd template (bash jobs)
	// Extra holds the words after "--" on stolos-exec's command line. A
	// bash job appends them to BashCmd, joined by spaces, before the
	// placeholders are filled (so they may use them, and a literal brace is
	// written twice); a plugin gets them, untouched, as its arguments.
	Extra    []string
	CheckCmd string   // optional check_cmd template, run with Shell
	Environ  []string // the base environment, usually os.Environ(); nil means empty
	Env      map[string]string
	Timeout  time.Duration // for the whole attempt, check_cmd runs included; 0 means none
	Grace    time.Duration // from SIGTERM to SIGKILL; 0 means SIGKILL at once
	// Reaper is the argv that starts ReaperMain in a new process, e.g.
	// {"/usr/bin/stolos-exec", "__stolos_reaper"}; the command's argv is
	// appended to it.
	Reaper         []string
	Stdout, Stderr io.Writer // nil means /dev/null
}

// Outcome is how an attempt ended. Text is one of:
//
//	exit N                    the command exited with status N
//	signal NAME               the command was killed by signal SIGNAME
//	timeout after D           Job.Timeout (D) ran out; the group was killed
//	canceled                  the context was canceled; the group was killed
//	already done (check_cmd)  check_cmd exited 0 first; the command did not run
//	check failed: exit N      the command succeeded but check_cmd then did not
//	bad command: REASON       a template is malformed or names an unknown placeholder
//	plugin not found: stolos-plugin-X
//	start failed: REASON      the command could not be executed
//
// OK is true only for "exit 0" and "already done (check_cmd)". Every other
// outcome is the job's failure and counts as a failed attempt.
type Outcome struct {
	Text string
	OK   bool
}

// Run runs one attempt of job j: check_cmd first if there is one (exit 0:
// the work is already done and the command does not run), then the command,
// then check_cmd again, which must exit 0 for the attempt to succeed.
//
// Run returns an error only when the runner itself failed (no Reaper, the
// reaper could not be started or did not report): such an attempt says
// nothing about the job. Everything that is the job's doing, including a
// bad template and a missing plugin, is an Outcome.
func Run(ctx context.Context, j Job) (Outcome, error) {
	argv, bad := j.argv()
	if bad != "" {
		return Outcome{Text: bad}, nil
	}
	var check []string
	if j.CheckCmd != "" {
		if check, bad = j.checkArgv(); bad != "" {
			return Outcome{Text: bad}, nil
		}
	}
	ctx, cancel := j.deadline(ctx)
	defer cancel()
	if check != nil {
		o, ended, err := j.run(ctx, check)
		if err != nil || !ended {
			return o, err
		}
		if o.OK {
			return Outcome{Text: "already done (check_cmd)", OK: true}, nil
		}
	}
	o, _, err := j.run(ctx, argv)
	if err != nil || !o.OK || check == nil {
		return o, err
	}
	c, ended, err := j.run(ctx, check)
	if err != nil || !ended || c.OK {
		return c, err
	}
	return Outcome{Text: "check failed: " + c.Text}, nil
}

// Check runs j's check_cmd alone, under j's Timeout, and reports whether it
// exited 0. When it did not, the Outcome says how it ended.
func Check(ctx context.Context, j Job) (done bool, o Outcome, err error) {
	if j.CheckCmd == "" {
		return false, Outcome{}, fmt.Errorf("job %s %s has no check_cmd", j.App, j.JobID)
	}
	check, bad := j.checkArgv()
	if bad != "" {
		return false, Outcome{Text: bad}, nil
	}
	ctx, cancel := j.deadline(ctx)
	defer cancel()
	o, _, err = j.run(ctx, check)
	return o.OK, o, err
}

// deadline applies j's Timeout to ctx; the context's cause then says
// "timeout after D".
func (j Job) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if j.Timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, j.Timeout, timeoutError{j.Timeout})
}

// timeoutError is the cause of a context whose Job.Timeout ran out.
type timeoutError struct{ d time.Duration }

func (e timeoutError) Error() string { return "timeout after " + e.d.String() }

// argv returns the argv of j's command, or the text of a bad outcome.
func (j Job) argv() ([]string, string) {
	if j.JobType == "" || j.JobType == "bash" {
		tmpl := j.BashCmd
		if len(j.Extra) > 0 {
			tmpl += " " + strings.Join(j.Extra, " ")
		}
		return shellArgv(tmpl, j)
	}
	name := "stolos-plugin-" + j.JobType
	path, ok := lookPath(name, j.getenv("PATH"))
	if !ok {
		return nil, "plugin not found: " + name
	}
	return append([]string{path}, j.Extra...), ""
}

// checkArgv returns the argv of j's check_cmd, or the text of a bad outcome.
func (j Job) checkArgv() ([]string, string) { return shellArgv(j.CheckCmd, j) }

// shellArgv fills tmpl for j and returns the argv that runs it with Shell.
func shellArgv(tmpl string, j Job) ([]string, string) {
	cmd, err := Command(tmpl, j)
	if err != nil {
		return nil, "bad command: " + err.Error()
	}
	if strings.TrimSpace(cmd) == "" {
		return nil, "bad command: empty command"
	}
	return []string{Shell, "-c", cmd}, ""
}

// lookPath finds the executable regular file name in the directories of
// pathList (a PATH value; empty entries are skipped, not taken as ".").
func lookPath(name, pathList string) (string, bool) {
	if strings.ContainsRune(name, '/') {
		return "", false
	}
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// environ returns the command's environment (see the package doc).
func (j Job) environ() []string {
	over := map[string]string{}
	for k, v := range j.Env {
		over[k] = v
	}
	for _, id := range j.Idents {
		over[id.Name] = id.Value
	}
	over["STOLOS_APP_NAME"] = j.App
	over["STOLOS_JOB_ID"] = j.JobID
	env := make([]string, 0, len(j.Environ)+len(over))
	for _, kv := range j.Environ {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := over[k]; !ok {
			env = append(env, kv)
		}
	}
	keys := make([]string, 0, len(over))
	for k := range over {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+over[k])
	}
	return env
}

// getenv returns the value of key in j's command environment.
func (j Job) getenv(key string) string {
	env := j.environ()
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(env[i], "="); k == key {
			return v
		}
	}
	return ""
}

// run runs argv under a reaper until it ends or ctx is done, and returns the
// outcome; ended says the command ended by itself (its Text is then "exit N"
// or "signal NAME").
func (j Job) run(ctx context.Context, argv []string) (o Outcome, ended bool, err error) {
	if len(j.Reaper) == 0 {
		return Outcome{}, false, errors.New("no reaper command set up to run jobs")
	}
	if err := ctx.Err(); err != nil {
		return Outcome{Text: stopText(ctx)}, false, nil
	}
	lifeR, lifeW, err := os.Pipe()
	if err != nil {
		return Outcome{}, false, err
	}
	defer lifeW.Close() // only after the reaper is gone: its EOF kills the group
	statR, statW, err := os.Pipe()
	if err != nil {
		lifeR.Close()
		return Outcome{}, false, err
	}
	cmd := exec.Command(j.Reaper[0], append(slices.Clip(j.Reaper[1:]), argv...)...)
	cmd.Env = j.environ()
	cmd.Stdout, cmd.Stderr = j.Stdout, j.Stderr
	cmd.ExtraFiles = []*os.File{lifeR, statW} // fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = pipeDrain
	err = cmd.Start()
	lifeR.Close()
	statW.Close()
	if err != nil {
		statR.Close()
		return Outcome{}, false, fmt.Errorf("start reaper: %w", err)
	}
	// The group's id stays valid, and cannot name another group, until
	// cmd.Wait reaps the reaper, which is the last thing done here.
	pgid := cmd.Process.Pid
	line := make(chan string, 1)
	gone := make(chan struct{})
	go readStatus(statR, line, gone)
	var status, stop string
	select {
	case status = <-line:
		if status != "" { // the command ended: end what it left behind
			terminate(pgid, j.Grace, gone)
		}
	case <-ctx.Done():
		stop = stopText(ctx)
		terminate(pgid, j.Grace, gone)
		status = <-line
	}
	<-gone
	// The reaper is gone (reaping all it could); a process that outlived it
	// in the group (the reaper was killed) goes now.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	werr := cmd.Wait()
	var exitErr *exec.ExitError
	if werr != nil && !errors.As(werr, &exitErr) && !errors.Is(werr, exec.ErrWaitDelay) {
		return Outcome{}, false, fmt.Errorf("wait for reaper: %w", werr)
	}
	switch {
	case stop != "":
		return Outcome{Text: stop}, false, nil
	case strings.HasPrefix(status, "error "):
		return Outcome{Text: "start failed: " + strings.TrimPrefix(status, "error ")}, false, nil
	case status != "":
		return Outcome{Text: status, OK: status == "exit 0"}, true, nil
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() { // the reaper was killed, and the command with it
		return Outcome{Text: statusText(ws)}, true, nil
	}
	return Outcome{}, false, fmt.Errorf("reaper %s ended with %s without reporting; does it run runner.ReaperMain?", j.Reaper[0], statusText(ws))
}

// terminate ends the process group pgid: SIGTERM, then SIGKILL when it is
// not gone within grace.
func terminate(pgid int, grace time.Duration, gone <-chan struct{}) {
	if grace > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-gone:
			return
		case <-t.C:
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// stopText says why ctx is done: "timeout after D" or "canceled".
func stopText(ctx context.Context) string {
	var t timeoutError
	if errors.As(context.Cause(ctx), &t) {
		return t.Error()
	}
	return "canceled"
}
