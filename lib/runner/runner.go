// Package runner runs one attempt of a job's command for stolos-exec.
//
// A job of type "bash" (the default) runs its app's bash_cmd through
// /bin/sh -c, as the original Stolos did (not bash), after filling the
// command's placeholders with shell-quoted values (command.Fill). Any other
// job type X runs the program stolos-plugin-X, found in the job's PATH, with
// the words after "--" on stolos-exec's command line as its arguments.
//
// The command's environment is Job.Environ (stolos-exec passes its own), then
// the app's Env, then one variable per identifier of the job id, named as the
// identifier (date=20140601, client_id=42), then command.DescribeJob's
// variables (STOLOS_APP_NAME, STOLOS_JOB_ID and STOLOS_JOB_VARS); a later
// one replaces an earlier one of the same name. Its standard input is
// /dev/null, its output goes to Job.Stdout and Job.Stderr.
//
// The command runs under a small watchdog, the reaper (see ReaperMain), a
// re-executed copy of the calling program that runs one command at a time
// and that a Reaper keeps for the next attempts. It is a child subreaper
// (Linux), so the command's descendants stay its descendants in any process
// group or session, and it stops them all, "the tree": SIGTERM, then
// SIGKILL after Job.Grace, when the attempt times out or its context is
// canceled, when the command ends by itself and leaves some behind, and at
// the deadline of Reaper.SetDeadline (a dead-man's switch that the calling
// program keeps moving). When the calling program dies, even by kill -9,
// the reaper kills the tree at once: it is started with a parent-death
// signal (Linux), from a thread locked for the life of the program, and it
// sees its control pipe and socket close. Outside Linux a process that
// leaves the reaper's group escapes.
package runner

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stolos-sched/stolos/lib/command"
	"github.com/stolos-sched/stolos/lib/store"
)

// Shell is the shell that runs bash jobs' commands and check_cmd.
const Shell = "/bin/sh"

// pipeDrain bounds how long Run waits, after the reaper has exited, for the
// output of a process that escaped the group to stop (only when Stdout or
// Stderr is not an *os.File).
const pipeDrain = time.Second

// stopSlack is how long after the grace Run waits for a reaper that is
// stopping a command to say it is done, before it kills the reaper's whole
// process group (a reaper that does not answer is stuck or paused).
const stopSlack = 2 * time.Second

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
	Extra          []string
	CheckCmd       string   // optional check_cmd template, run with Shell
	ReadyCmd       string   // optional ready_cmd template (a sensor), run with Shell first
	Environ        []string // the base environment, usually os.Environ(); nil means empty
	Env            map[string]string
	Timeout        time.Duration // for the whole attempt, check_cmd runs included; 0 means none
	Grace          time.Duration // from SIGTERM to SIGKILL; 0 means SIGKILL at once
	Stdout, Stderr io.Writer     // nil means /dev/null
}

// Outcome is how an attempt ended. Text is one of:
//
//	exit N                    the command exited with status N
//	signal NAME               the command was killed by signal SIGNAME
//	timeout after D           Job.Timeout (D) ran out; the tree was stopped
//	canceled                  the context was canceled; the tree was stopped
//	not ready (ready_cmd exit 75)  ready_cmd said "not yet" (NotYet); nothing else ran
//	ready_cmd failed: exit N  ready_cmd exited neither 0 nor NotYet; nothing else ran
//	already done (check_cmd)  check_cmd exited 0 first; the command did not run
//	check failed: exit N      the command succeeded but check_cmd then did not
//	bad command: REASON       a template is malformed or names an unknown placeholder
//	plugin not found: stolos-plugin-X
//	start failed: REASON      the command could not be executed
//
// OK is true only for "exit 0" and "already done (check_cmd)". NotReady is
// true only for "not ready": no attempt of the job was made. Every other
// outcome is the job's failure and counts as a failed attempt.
//
// Expired is true, and Text "stopped at the lease deadline (STATUS)" or
// "lease deadline passed before the command started", when the deadline of
// Reaper.SetDeadline stopped the attempt: it has no outcome of its own.
type Outcome struct {
	Text     string
	OK       bool
	Expired  bool
	NotReady bool
}

// Run runs one attempt of job j under r's reaper: ready_cmd first if there
// is one (see ready), then check_cmd if there
// is one (exit 0: the work is already done and the command does not run),
// then the command, then check_cmd again, which must exit 0 for the attempt
// to succeed.
//
// Run returns an error only when the runner itself failed (no reaper argv,
// the reaper could not be started or did not report): such an attempt says
// nothing about the job. Everything that is the job's doing, including a
// bad template and a missing plugin, is an Outcome.
func (r *Reaper) Run(ctx context.Context, j Job) (Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
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
	var ready []string
	if j.ReadyCmd != "" {
		if ready, bad = shellArgv(j.ReadyCmd, j); bad != "" {
			return Outcome{Text: "ready_cmd: " + bad}, nil
		}
	}
	ctx, cancel := j.deadline(ctx)
	defer cancel()
	if ready != nil {
		if o, ok, err := r.ready(ctx, j, ready); !ok {
			return o, err
		}
	}
	if check != nil {
		o, ended, err := r.run(ctx, j, check)
		if err != nil || !ended {
			return o, err
		}
		if o.OK {
			return Outcome{Text: store.OutcomeDone, OK: true}, nil
		}
	}
	o, _, err := r.run(ctx, j, argv)
	if err != nil || !o.OK || check == nil {
		return o, err
	}
	c, ended, err := r.run(ctx, j, check)
	if err != nil || !ended || c.OK {
		return c, err
	}
	return Outcome{Text: "check failed: " + c.Text}, nil
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
	cmd, err := command.Fill(tmpl, j.value)
	if err != nil {
		return nil, "bad command: " + err.Error()
	}
	if strings.TrimSpace(cmd) == "" {
		return nil, "bad command: empty command"
	}
	return []string{Shell, "-c", cmd}, ""
}

// value returns the value that fills placeholder name for j: the
// identifier of that name, else app_name is j.App and job_id is j.JobID (an
// identifier named app_name or job_id wins, as in the original).
func (j Job) value(name string) (string, bool) {
	for _, id := range j.Idents {
		if id.Name == name {
			return id.Value, true
		}
	}
	switch name {
	case "app_name":
		return j.App, true
	case "job_id":
		return j.JobID, true
	}
	return "", false
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
	for _, kv := range command.DescribeJob(j.App, j.JobID) {
		k, v, _ := strings.Cut(kv, "=")
		over[k] = v
	}
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

// Reaper runs the commands of attempts under one reaper process (see
// ReaperMain), started by the first attempt and reused by the next ones; a
// reaper that died, or that Close ended, is replaced by the next attempt.
// Its attempts run one at a time: Run, Check and Close wait for the running
// one to end. The zero Reaper has no argv and fails every attempt.
type Reaper struct {
	argv []string
	mu   sync.Mutex
	p    *reaperProc // nil: none running

	ctl      sync.Mutex  // for the deadline, and writes to the control pipe
	deadline Deadline    // see SetDeadline
	cur      *reaperProc // the reaper running a request, nil between
}

// reaperProc is a running reaper.
type reaperProc struct {
	cmd     *exec.Cmd
	conn    *net.UnixConn
	control *os.File    // the control pipe's write end
	lines   chan string // its replies; closed when it has exited
	seq     uint64      // the requests sent to it
}

// SetDeadline sets when the commands of r must be stopped, running or not
// yet started (0: never): the reaper itself stops them then (SIGTERM, then
// SIGKILL after the Job's Grace), whatever the calling program is doing by
// then (paused, blocked, cut off), and reports the attempt as Expired. It
// may be called at any time, from any goroutine; stolos-exec moves it
// later after each renewal of its lease.
func (r *Reaper) SetDeadline(d Deadline) {
	r.ctl.Lock()
	defer r.ctl.Unlock()
	r.deadline = d
	if r.cur != nil {
		r.cur.sendControl(controlMsg{seq: r.cur.seq, kind: controlDeadline, value: int64(d)})
	}
}

// sendControl writes m to the control pipe. An error means the reaper is
// gone, which its socket says too.
func (p *reaperProc) sendControl(m controlMsg) {
	_, _ = p.control.Write(m.encode())
}

// NewReaper returns a Reaper that starts ReaperMain with argv, e.g.
// {"/usr/bin/stolos-exec", "__stolos_reaper"}. It starts nothing yet.
func NewReaper(argv []string) *Reaper {
	return &Reaper{argv: slices.Clone(argv)}
}

// Close ends the reaper process, if one runs, and waits for it.
func (r *Reaper) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p != nil {
		r.p.conn.Close() // EOF: the reaper kills its group, that is itself
		r.p.control.Close()
		r.reap()
	}
}

// reap waits for the reaper process, which has exited or is exiting, and
// forgets it. A process that outlived it in its group goes first, while
// the group's id is still the reaper's (it is until the reaper is reaped).
func (r *Reaper) reap() *os.ProcessState {
	_ = syscall.Kill(-r.p.cmd.Process.Pid, syscall.SIGKILL)
	_ = r.p.cmd.Wait()
	r.p.conn.Close()
	r.p.control.Close()
	for range r.p.lines { // let the reading goroutine end
	}
	st := r.p.cmd.ProcessState
	r.p = nil
	return st
}

// proc returns the running reaper, starting one when there is none or the
// last one died.
func (r *Reaper) proc() (*reaperProc, error) {
	if len(r.argv) == 0 {
		return nil, errors.New("no reaper command set up to run jobs")
	}
	if r.p != nil {
		select {
		case _, ok := <-r.p.lines:
			if ok { // a reply no attempt waits for: the protocol is broken
				r.p.conn.Close()
			}
			r.reap()
		default:
			return r.p, nil
		}
	}
	syscall.ForkLock.RLock() // no fork may inherit the socket
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("start reaper: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "reaper"), os.NewFile(uintptr(fds[1]), "runner")
	defer mine.Close()
	ctlR, ctlW, err := os.Pipe() // close-on-exec
	if err != nil {
		theirs.Close()
		return nil, fmt.Errorf("start reaper: %w", err)
	}
	cmd := exec.Command(r.argv[0], r.argv[1:]...)
	cmd.ExtraFiles = []*os.File{theirs, ctlR} // fd 3, fd 4
	cmd.SysProcAttr = reaperAttr()
	err = startLocked(cmd)
	theirs.Close()
	ctlR.Close()
	if err != nil {
		ctlW.Close()
		return nil, fmt.Errorf("start reaper: %w", err)
	}
	c, err := net.FileConn(mine)
	if err != nil {
		ctlW.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("start reaper: %w", err)
	}
	p := &reaperProc{cmd: cmd, conn: c.(*net.UnixConn), control: ctlW, lines: make(chan string, 2)}
	go readLines(p.conn, p.lines)
	r.p = p
	return p, nil
}

// starter starts processes from one thread locked for the life of the
// program, so that their parent-death signal (sent when the thread that
// started them exits) means the program's death.
var starter struct {
	once sync.Once
	reqs chan startReq
}

type startReq struct {
	cmd  *exec.Cmd
	done chan error
}

// StartTied starts cmd so that it dies with the calling program, even by
// kill -9 (on Linux: the parent-death signal SIGKILL, sent when the starter
// thread, which lives as long as the program, exits), unless cmd sets its
// own SysProcAttr. Only cmd itself is covered, not what it starts. It is for
// the commands stolos runs outside a reaper (valid_if_or's _func).
func StartTied(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = commandAttr()
	}
	return startLocked(cmd)
}

// startLocked starts cmd from the starter thread.
func startLocked(cmd *exec.Cmd) error {
	starter.once.Do(func() {
		starter.reqs = make(chan startReq)
		go func() {
			runtime.LockOSThread() // for good: this thread never exits
			for r := range starter.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	starter.reqs <- startReq{cmd, done}
	return <-done
}

// send asks reaper p to run the encoded request body, with stdout and
// stderr.
func (p *reaperProc) send(body []byte, stdout, stderr *os.File) error {
	if len(body) > maxRequest {
		return fmt.Errorf("command and environment of %d bytes: too long", len(body))
	}
	var head [4]byte
	binary.BigEndian.PutUint32(head[:], uint32(len(body)))
	rights := syscall.UnixRights(int(stdout.Fd()), int(stderr.Fd()))
	if _, _, err := p.conn.WriteMsgUnix(head[:], rights, nil); err != nil {
		return err
	}
	_, err := p.conn.Write(body)
	return err
}

// run runs argv under the reaper until it ends or ctx is done, and returns
// the outcome; ended says the command ended by itself (its Text is then
// "exit N" or "signal NAME").
func (r *Reaper) run(ctx context.Context, j Job, argv []string) (o Outcome, ended bool, err error) {
	if len(r.argv) == 0 {
		return Outcome{}, false, errors.New("no reaper command set up to run jobs")
	}
	if err := ctx.Err(); err != nil {
		return Outcome{Text: stopText(ctx)}, false, nil
	}
	dir, _ := os.Getwd()
	p, err := r.proc()
	if err != nil {
		return Outcome{}, false, err
	}
	out, err := openOutput(j.Stdout, j.Stderr)
	if err != nil {
		return Outcome{}, false, err
	}
	defer out.finish()
	// The request and the control messages about it are numbered alike
	// under r.ctl, so a deadline set meanwhile is in the request or follows
	// it.
	r.ctl.Lock()
	req := request{Argv: argv, Env: j.environ(), Dir: dir, Deadline: r.deadline, Grace: j.Grace}
	body, err := req.encode()
	if err != nil {
		r.ctl.Unlock()
		return Outcome{Text: "start failed: " + err.Error()}, false, nil
	}
	p.seq++
	seq := p.seq
	err = p.send(body, out.stdout, out.stderr)
	if err == nil {
		r.cur = p
	}
	r.ctl.Unlock()
	if err != nil {
		p.conn.Close()
		ws, _ := r.reap().Sys().(syscall.WaitStatus)
		return Outcome{}, false, noReport(r.argv[0], ws)
	}
	defer func() {
		r.ctl.Lock()
		r.cur = nil
		r.ctl.Unlock()
	}()
	out.sent()
	// The group's id stays valid, and cannot name another group, until the
	// reaper is reaped, which only reap does.
	pgid := p.cmd.Process.Pid
	// The reaper stops the command's tree itself: when asked (ctx), at the
	// deadline, and when the command leaves descendants. If it has not
	// said "done" by the grace and stopSlack after, it is stuck: its tree
	// and then its group get SIGKILL, the reaper included.
	var status, stop string
	done, died, killed := false, false, false
	ctxDone := ctx.Done()
	var fallback <-chan time.Time
	var timer *time.Timer
	for !done {
		select {
		case s, ok := <-p.lines:
			switch {
			case !ok:
				died, done = true, true
			case s == "done":
				done = true
			case strings.HasPrefix(s, "done "):
				status, done = strings.TrimPrefix(s, "done "), true
			case strings.HasPrefix(s, "end "):
				status = strings.TrimPrefix(s, "end ")
				if timer == nil {
					timer = time.NewTimer(j.Grace + stopSlack)
					fallback = timer.C
				}
			}
		case <-ctxDone:
			ctxDone = nil
			stop = stopText(ctx)
			r.ctl.Lock()
			p.sendControl(controlMsg{seq: seq, kind: controlStop, value: int64(j.Grace)})
			r.ctl.Unlock()
			if timer == nil {
				timer = time.NewTimer(j.Grace + stopSlack)
				fallback = timer.C
			}
		case <-fallback:
			fallback = nil
			// Its tree is ours too while it lives: killed first, what
			// left its group included, which the group's death would
			// leave to init.
			killTree(pgid)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			killed = true
		}
	}
	if timer != nil {
		timer.Stop()
	}
	var ws syscall.WaitStatus
	if died || killed { // it is dead or dying
		ws, _ = r.reap().Sys().(syscall.WaitStatus)
	}
	expired := strings.HasPrefix(status, "expired ")
	status = strings.TrimPrefix(status, "expired ")
	switch {
	case expired && status == "not started":
		return Outcome{Text: "lease deadline passed before the command started", Expired: true}, false, nil
	case expired:
		return Outcome{Text: "stopped at the lease deadline (" + status + ")", Expired: true}, false, nil
	case stop != "":
		return Outcome{Text: stop}, false, nil
	case strings.HasPrefix(status, "error "):
		return Outcome{Text: "start failed: " + strings.TrimPrefix(status, "error ")}, false, nil
	case status == "stopped not started":
		return Outcome{Text: "canceled"}, false, nil
	case status != "":
		return Outcome{Text: status, OK: status == store.OutcomeOK}, true, nil
	case ws.Signaled(): // the reaper was killed, and the command with it
		return Outcome{Text: statusText(ws)}, true, nil
	}
	return Outcome{}, false, noReport(r.argv[0], ws)
}

// noReport is the error of a reaper that ended with ws and said nothing.
func noReport(name string, ws syscall.WaitStatus) error {
	return fmt.Errorf("reaper %s ended with %s without reporting; does it run runner.ReaperMain?", name, statusText(ws))
}

// output is where a command's stdout and stderr go: files handed to the
// reaper, and the pipes copied to writers that are not files.
type output struct {
	stdout, stderr *os.File
	toClose        []*os.File // the runner's own copies, closed once sent
	readers        []*os.File // read ends of the pipes
	copied         chan struct{}
}

// openOutput returns the files for the writers stdout and stderr (nil means
// /dev/null); the same writer gets the same file.
func openOutput(stdout, stderr io.Writer) (*output, error) {
	o := &output{copied: make(chan struct{}, 2)}
	var err error
	if o.stdout, err = o.file(stdout); err != nil {
		o.sent()
		o.finish()
		return nil, err
	}
	if sameWriter(stdout, stderr) {
		o.stderr = o.stdout
	} else if o.stderr, err = o.file(stderr); err != nil {
		o.sent()
		o.finish()
		return nil, err
	}
	return o, nil
}

// sameWriter says whether a and b are the same writer.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() { _ = recover() }() // an uncomparable writer is not the same
	return a == b
}

// file returns the file for w.
func (o *output) file(w io.Writer) (*os.File, error) {
	switch w := w.(type) {
	case nil:
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		o.toClose = append(o.toClose, f)
		return f, nil
	case *os.File:
		return w, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	o.toClose = append(o.toClose, pw)
	o.readers = append(o.readers, pr)
	go func() {
		_, _ = io.Copy(w, pr)
		o.copied <- struct{}{}
	}()
	return pw, nil
}

// sent closes the runner's copies of the files the reaper now holds.
func (o *output) sent() {
	for _, f := range o.toClose {
		f.Close()
	}
	o.toClose = nil
}

// finish waits until the pipes are drained, at most pipeDrain for the
// output of a process that escaped the group, and closes them.
func (o *output) finish() {
	o.sent()
	t := time.NewTimer(pipeDrain)
	defer t.Stop()
	for pending := len(o.readers); pending > 0; {
		select {
		case <-o.copied:
			pending--
		case <-t.C: // fires once
			for _, r := range o.readers {
				r.Close() // ends the copying
			}
		}
	}
	for _, r := range o.readers {
		r.Close()
	}
}

// stopText says why ctx is done: "timeout after D" or "canceled".
func stopText(ctx context.Context) string {
	var t timeoutError
	if errors.As(context.Cause(ctx), &t) {
		return t.Error()
	}
	return "canceled"
}
