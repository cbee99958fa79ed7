package runner

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// socketFD is the reaper's end of its connection to the runner, set up by
// Reaper.start; controlFD is the read end of the control pipe, on which the
// runner sends deadlines and stops while a command runs.
const (
	socketFD  = 3
	controlFD = 4
)

// request is one command for the reaper to run. It travels as a 4-byte
// big-endian length with the command's stdout and stderr attached
// (SCM_RIGHTS), then that many bytes of its encoding.
type request struct {
	Argv     []string // Argv[0] is an absolute path
	Env      []string
	Dir      string        // "" means the reaper's own
	Deadline Deadline      // stop the command then; 0 means never
	Grace    time.Duration // from SIGTERM to SIGKILL when stopping it
}

// maxRequest bounds a request's encoding.
const maxRequest = 64 << 20

// encode is the request's wire form: its strings separated by NUL bytes,
// which none of them can hold (exec(2) takes NUL-terminated strings): Dir,
// the deadline and the grace in nanoseconds, the number of Argv, Argv,
// then Env.
func (r request) encode() ([]byte, error) {
	n := len(r.Dir) + 48
	for _, ss := range [][]string{r.Argv, r.Env} {
		for _, s := range ss {
			n += len(s) + 1
		}
	}
	b := make([]byte, 0, n)
	b = append(b, r.Dir...)
	for _, v := range []int64{int64(r.Deadline), int64(r.Grace), int64(len(r.Argv))} {
		b = append(b, 0)
		b = strconv.AppendInt(b, v, 10)
	}
	for _, ss := range [][]string{r.Argv, r.Env} {
		for _, s := range ss {
			b = append(b, 0)
			b = append(b, s...)
		}
	}
	if bytes.Count(b, []byte{0}) != 3+len(r.Argv)+len(r.Env) {
		return nil, errors.New("the command, its environment or the directory holds a NUL byte")
	}
	return b, nil
}

// decodeRequest reverses encode.
func decodeRequest(b []byte) (request, error) {
	f := strings.Split(string(b), "\x00")
	bad := errors.New("malformed request")
	if len(f) < 5 {
		return request{}, bad
	}
	dl, err1 := strconv.ParseInt(f[1], 10, 64)
	grace, err2 := strconv.ParseInt(f[2], 10, 64)
	n, err3 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil || err3 != nil || n < 1 || n > len(f)-4 {
		return request{}, bad
	}
	return request{Dir: f[0], Deadline: Deadline(dl), Grace: time.Duration(grace),
		Argv: f[4 : 4+n], Env: f[4+n:]}, nil
}

// A Deadline is a moment of this machine's monotonic clock
// (CLOCK_MONOTONIC, in nanoseconds), which every process on it reads alike
// and which no change of the time of day moves. 0 means none.
type Deadline int64

// Now is the monotonic clock's reading.
func Now() Deadline {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("clock_gettime(CLOCK_MONOTONIC): " + err.Error()) // cannot fail
	}
	return Deadline(ts.Nano())
}

// Add is d moved by x.
func (d Deadline) Add(x time.Duration) Deadline { return d + Deadline(x) }

// Until is how long from now until d (negative once it passed).
func (d Deadline) Until() time.Duration { return time.Duration(d - Now()) }

// A control message, from the runner on the control pipe: 24 bytes, three
// native-endian 64-bit words, written at once (pipe writes of up to
// PIPE_BUF bytes are atomic): the request it is about (the reaper's n-th
// request since it started, from 1), its kind, and its value.
const controlSize = 24

const (
	controlDeadline = 1 // value: the request's new Deadline
	controlStop     = 2 // value: the grace, in nanoseconds
)

type controlMsg struct {
	seq   uint64
	kind  uint64
	value int64
}

func (m controlMsg) encode() []byte {
	b := make([]byte, controlSize)
	binary.NativeEndian.PutUint64(b[0:], m.seq)
	binary.NativeEndian.PutUint64(b[8:], m.kind)
	binary.NativeEndian.PutUint64(b[16:], uint64(m.value))
	return b
}

func decodeControl(b []byte) controlMsg {
	return controlMsg{seq: binary.NativeEndian.Uint64(b[0:]), kind: binary.NativeEndian.Uint64(b[8:]),
		value: int64(binary.NativeEndian.Uint64(b[16:]))}
}

// ReaperMain is the hidden mode a Reaper's argv starts, with no arguments:
// it runs the runner's commands, one at a time, and watches over them. The
// program that calls Run must dispatch to it, e.g. stolos-exec's main does
// os.Exit(runner.ReaperMain(os.Args[2:])) when os.Args[1] is "__stolos_reaper".
//
// The runner starts the reaper as the leader of a new process group, with a
// unix stream socket on fd 3, the read end of a pipe (the control pipe) on
// fd 4 and, on Linux, the parent-death signal orphanSignal (from a thread
// that lives as long as the runner). The reaper:
//   - becomes a child subreaper (Linux), so every descendant of a command
//     stays its descendant even when its parent dies: it becomes the
//     reaper's child, and the reaper reaps it;
//   - for each request read on fd 3, starts the command in the reaper's own
//     process group with the parent-death signal SIGKILL, so the command
//     dies if the reaper does; its stdin is the reaper's, its stdout and
//     stderr come with the request;
//   - stops the command's whole tree (every descendant, whatever its
//     process group or session: SIGTERM, then SIGKILL after the request's
//     grace, again until none is left) when the request's deadline passes
//     (a dead-man's switch: the runner moves it later on the control pipe
//     after each renewal of its lease, and a runner that is paused, blocked
//     or cut off does not), when the runner asks on the control pipe, and
//     when the command ended and left descendants behind;
//   - replies on fd 3, one line each: "end STATUS" when the command ended
//     and descendants are left (being stopped), then "done" once none is;
//     or "done STATUS" when none was left. STATUS is the command's status
//     ("exit 3", "signal KILL", "error REASON" when it could not start),
//     after "expired " when the deadline stopped it or it had passed
//     before the command could start ("expired not started");
//   - ignores SIGTERM, SIGINT, SIGHUP and SIGQUIT, which a terminal may send
//     to the whole group, and SIGTSTP, SIGTTIN and SIGTTOU, which would
//     stop it with its group (a stopped reaper enforces no deadline); it
//     sends SIGCONT after SIGTERM, so that a stopped command acts on it;
//   - kills every descendant with SIGKILL, then its process group, itself
//     included, when the runner dies (even by kill -9: the parent-death
//     signal, and EOF on the control pipe) or closes the Reaper (fd 3
//     reaches EOF).
//
// One thread blocks in recvmsg and then in wait4: a job wakes the reaper
// twice, when its request comes and when its command ends. The control
// pipe has a goroutine of its own, which wakes only for deadlines and
// stops. (A goroutine reading the socket, handing requests to the locked
// thread, cost several more thread switches per job.)
//
// It returns 2, with a message on stderr, when it was not started that way.
func ReaperMain(args []string) int {
	// A command's parent-death signal fires when the thread that started
	// it exits: keep this goroutine on its thread for good.
	runtime.LockOSThread()
	if len(args) != 0 {
		fmt.Fprintln(os.Stderr, "stolos reaper: unexpected arguments")
		return 2
	}
	if syscall.Getpgrp() != syscall.Getpid() {
		fmt.Fprintln(os.Stderr, "stolos reaper: not the leader of its process group")
		return 2
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(socketFD, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		fmt.Fprintf(os.Stderr, "stolos reaper: fd %d is not a socket\n", socketFD)
		return 2
	}
	if err := syscall.Fstat(controlFD, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		fmt.Fprintf(os.Stderr, "stolos reaper: fd %d is not a pipe\n", controlFD)
		return 2
	}
	syscall.CloseOnExec(socketFD)
	syscall.CloseOnExec(controlFD)
	// Caught, not ignored: a command starts with them at their defaults.
	// The stops too: the reaper shares its group with the command, and a
	// command that stops its group (kill -TSTP 0, the SIGTTIN or SIGTTOU
	// of a background group at a terminal) must not stop its deadline.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU)
	w := &watch{self: os.Getpid()}
	w.timer = time.AfterFunc(time.Hour, w.fire)
	w.timer.Stop()
	orphaned := make(chan os.Signal, 1)
	signal.Notify(orphaned, orphanSignal)
	go func() {
		<-orphaned // the runner is gone: so is the job
		w.orphaned()
	}()
	go w.control(os.NewFile(controlFD, "control"))
	subErr := setSubreaper()
	for seq := uint64(1); ; seq++ {
		j, err := readRequest(socketFD)
		if err != nil { // the runner is gone (or broken): so is the job
			w.orphaned()
		}
		if subErr != nil {
			reply("done error set child subreaper: " + subErr.Error())
			continue
		}
		if why := w.begin(seq, j.request); why != "" {
			_ = syscall.Close(j.stdout)
			_ = syscall.Close(j.stderr)
			w.end()
			reply("done " + why)
			continue
		}
		status, reported := w.runCommand(seq, j)
		w.end()
		if reported {
			reply("done")
		} else { // one write when nothing outlived the command
			reply("done " + status)
		}
	}
}

// watch is the reaper's state of the request it runs, shared by the thread
// that runs it, the control pipe's goroutine and the deadline's timer.
type watch struct {
	self  int
	timer *time.Timer // fires at the deadline (fire checks it)

	mu       sync.Mutex
	seq      uint64 // the request that runs or ran last
	running  bool   // seq runs
	deadline Deadline
	grace    time.Duration
	stopping bool // its tree is being stopped
	expired  bool // by the deadline
	gone     chan struct{}
	later    []controlMsg // for a request not read yet
	orphan   sync.Once
}

// begin starts watching request seq. When the command must not start, it
// says why: "expired not started" (its deadline passed), "stopped not
// started" (the runner asked to stop it).
func (w *watch) begin(seq uint64, r request) (why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq, w.running = seq, true
	w.deadline, w.grace = r.Deadline, r.Grace
	w.stopping, w.expired = false, false
	w.gone = make(chan struct{})
	later := w.later
	w.later = nil
	for _, m := range later {
		if m.seq == seq {
			w.apply(m)
		} else if m.seq > seq {
			w.later = append(w.later, m)
		}
	}
	switch {
	case w.stopping:
		return "stopped not started"
	case w.deadline == 0:
	case w.deadline.Until() <= 0:
		return "expired not started"
	default:
		// Later than the last one in the usual case, which wakes no thread.
		w.timer.Reset(w.deadline.Until())
	}
	return ""
}

// end stops watching: the command and its descendants are gone.
func (w *watch) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running = false
	close(w.gone)
}

// status is how a command that ended with status is reported.
func (w *watch) status(status string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.expired {
		return "expired " + status
	}
	return status
}

// fire is the deadline's timer.
func (w *watch) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running || w.deadline == 0 || w.stopping {
		return
	}
	if d := w.deadline.Until(); d > 0 { // moved since
		w.timer.Reset(d)
		return
	}
	w.expired = true
	w.stop()
}

// stop starts stopping the running request's tree, unless it is being
// stopped. w.mu is held.
func (w *watch) stop() {
	if w.stopping || !w.running {
		return
	}
	w.stopping = true
	go w.stopTree(w.seq, w.grace, w.gone)
}

// stopTree sends SIGTERM to every descendant, then after grace SIGKILL,
// again until none is left, unless all are gone before (gone is closed).
func (w *watch) stopTree(seq uint64, grace time.Duration, gone <-chan struct{}) {
	if grace > 0 {
		if !w.signal(seq, syscall.SIGTERM) {
			return
		}
		// A stopped process acts on SIGTERM only once continued.
		w.signal(seq, syscall.SIGCONT)
		t := time.NewTimer(grace)
		select {
		case <-gone:
			t.Stop()
			return
		case <-t.C:
		}
	}
	for w.signal(seq, syscall.SIGKILL) {
		select {
		case <-gone:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// signal sends sig to every live descendant while request seq runs, and
// says whether there was one. The lock keeps the next request's command
// from starting meanwhile.
func (w *watch) signal(seq uint64, sig syscall.Signal) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seq != seq || !w.running {
		return false
	}
	return signalTree(w.self, sig) > 0
}

// apply applies a control message about the running request. w.mu is held.
func (w *watch) apply(m controlMsg) {
	switch m.kind {
	case controlDeadline:
		w.deadline = Deadline(m.value)
		if w.running && w.deadline != 0 && !w.stopping {
			w.timer.Reset(max(w.deadline.Until(), 0))
		}
	case controlStop:
		w.grace = min(w.grace, time.Duration(m.value))
		w.stop()
	}
}

// control reads the control pipe until it ends: the runner is gone.
func (w *watch) control(f *os.File) {
	b := make([]byte, controlSize)
	for {
		if _, err := io.ReadFull(f, b); err != nil {
			w.orphaned()
		}
		m := decodeControl(b)
		w.mu.Lock()
		switch {
		case m.seq > w.seq:
			w.later = append(w.later, m)
		case m.seq == w.seq && w.running:
			w.apply(m)
		}
		w.mu.Unlock()
	}
}

// orphaned kills every descendant and then the reaper's process group, the
// reaper included: the runner is gone, and the job with it.
func (w *watch) orphaned() {
	w.orphan.Do(func() {
		killTree(w.self)
		_ = syscall.Kill(0, syscall.SIGKILL)
	})
	select {} // the signal ends the process
}

// reaperJob is a request and its stdout and stderr.
type reaperJob struct {
	request
	stdout, stderr int
}

// reply writes line to the runner. An error means the runner is gone,
// which the next read sees too.
func reply(line string) {
	_, _ = syscall.Write(socketFD, []byte(line+"\n"))
}

// runCommand runs j's command and reaps it and every descendant. It returns
// the command's status, or "error REASON" when it could not start; reported
// says it already sent the status, as soon as the command ended, because
// descendants outlived it.
func (w *watch) runCommand(seq uint64, j reaperJob) (status string, reported bool) {
	pid, err := syscall.ForkExec(j.Argv[0], j.Argv, &syscall.ProcAttr{
		Dir:   j.Dir,
		Env:   j.Env,
		Files: []uintptr{0, uintptr(j.stdout), uintptr(j.stderr)},
		Sys:   commandAttr(),
	})
	_ = syscall.Close(j.stdout)
	_ = syscall.Close(j.stderr)
	if err != nil {
		return fmt.Sprintf("error %s: %v", j.Argv[0], err), false
	}
	for {
		opts := 0
		if status != "" && !reported {
			opts = syscall.WNOHANG // is anything left?
		}
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(-1, &ws, opts, nil)
		switch {
		case err == syscall.EINTR:
		case err != nil: // ECHILD: no descendant left
			return w.status(status), reported
		case wpid == 0: // descendants left: stop them, report now
			w.mu.Lock()
			w.stop()
			w.mu.Unlock()
			reply("end " + w.status(status))
			reported = true
		case wpid == pid:
			status = statusText(ws)
		}
	}
}

// readRequest reads one request from the socket fd.
func readRequest(fd int) (reaperJob, error) {
	var head [4]byte
	oob := make([]byte, syscall.CmsgSpace(2*4))
	n, oobn, _, _, err := syscall.Recvmsg(fd, head[:], oob, recvFlags)
	for err == syscall.EINTR {
		n, oobn, _, _, err = syscall.Recvmsg(fd, head[:], oob, recvFlags)
	}
	if err != nil {
		return reaperJob{}, err
	}
	if n == 0 {
		return reaperJob{}, io.EOF
	}
	if err := readFull(fd, head[n:]); err != nil {
		return reaperJob{}, err
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return reaperJob{}, errors.New("no file descriptors with the request")
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	for _, fd := range fds {
		syscall.CloseOnExec(fd)
	}
	if err != nil || len(fds) != 2 {
		return reaperJob{}, errors.New("want 2 file descriptors with the request")
	}
	size := binary.BigEndian.Uint32(head[:])
	if size > maxRequest {
		return reaperJob{}, fmt.Errorf("request of %d bytes", size)
	}
	body := make([]byte, size)
	if err := readFull(fd, body); err != nil {
		return reaperJob{}, err
	}
	r, err := decodeRequest(body)
	if err != nil {
		return reaperJob{}, err
	}
	return reaperJob{request: r, stdout: fds[0], stderr: fds[1]}, nil
}

// readFull fills b from fd.
func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Read(fd, b)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return err
		case n == 0:
			return io.ErrUnexpectedEOF
		}
		b = b[n:]
	}
	return nil
}

// statusText describes how a process ended: "exit 3", "signal KILL".
func statusText(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		name := strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG")
		if name == "" {
			name = strconv.Itoa(int(ws.Signal()))
		}
		return "signal " + name
	}
	return "exit " + strconv.Itoa(ws.ExitStatus())
}

// readLines sends each line read from r (without its newline) on lines,
// and closes lines when r ends.
func readLines(r io.Reader, lines chan<- string) {
	br := bufio.NewReader(r)
	for {
		s, err := br.ReadString('\n')
		if err != nil {
			close(lines)
			return
		}
		lines <- strings.TrimSuffix(s, "\n")
	}
}
