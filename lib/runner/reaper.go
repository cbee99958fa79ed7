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
	"syscall"

	"golang.org/x/sys/unix"
)

// socketFD is the reaper's end of its connection to the runner, set up by
// Reaper.start.
const socketFD = 3

// request is one command for the reaper to run. It travels as a 4-byte
// big-endian length with the command's stdout and stderr attached
// (SCM_RIGHTS), then that many bytes of its encoding.
type request struct {
	Argv []string // Argv[0] is an absolute path
	Env  []string
	Dir  string // "" means the reaper's own
}

// maxRequest bounds a request's encoding.
const maxRequest = 64 << 20

// encode is the request's wire form: its strings separated by NUL bytes,
// which none of them can hold (exec(2) takes NUL-terminated strings): Dir,
// the number of Argv, Argv, then Env.
func (r request) encode() ([]byte, error) {
	n := len(r.Dir) + 8
	for _, ss := range [][]string{r.Argv, r.Env} {
		for _, s := range ss {
			n += len(s) + 1
		}
	}
	b := make([]byte, 0, n)
	b = append(b, r.Dir...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(len(r.Argv)), 10)
	for _, ss := range [][]string{r.Argv, r.Env} {
		for _, s := range ss {
			b = append(b, 0)
			b = append(b, s...)
		}
	}
	if bytes.Count(b, []byte{0}) != 1+len(r.Argv)+len(r.Env) {
		return nil, errors.New("the command, its environment or the directory holds a NUL byte")
	}
	return b, nil
}

// decodeRequest reverses encode.
func decodeRequest(b []byte) (request, error) {
	f := strings.Split(string(b), "\x00")
	bad := errors.New("malformed request")
	if len(f) < 3 {
		return request{}, bad
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 1 || n > len(f)-2 {
		return request{}, bad
	}
	return request{Dir: f[0], Argv: f[2 : 2+n], Env: f[2+n:]}, nil
}

// ReaperMain is the hidden mode a Reaper's argv starts, with no arguments:
// it runs the runner's commands, one at a time, and watches over them. The
// program that calls Run must dispatch to it, e.g. stolos-exec's main does
// os.Exit(runner.ReaperMain(os.Args[2:])) when os.Args[1] is "__stolos_reaper".
//
// The runner starts the reaper as the leader of a new process group, with a
// unix stream socket on fd 3 and, on Linux, the parent-death signal
// orphanSignal (from a thread that lives as long as the runner). The
// reaper:
//   - becomes a child subreaper (Linux), so every descendant of a command
//     that loses its parent becomes its child and is reaped by it;
//   - for each request read on fd 3, starts the command in the reaper's own
//     process group with the parent-death signal SIGKILL, so the command
//     dies if the reaper does; its stdin is the reaper's, its stdout and
//     stderr come with the request;
//   - writes the command's status ("exit 3", "signal KILL", or "error
//     REASON" when it could not start) to fd 3 when it ends, then waits
//     until it has no descendants left and writes "done": the whole job is
//     gone and the group holds the reaper alone;
//   - ignores SIGTERM, SIGINT, SIGHUP and SIGQUIT, which the runner sends to
//     the whole group (they reach the command directly);
//   - kills its whole process group with SIGKILL, itself included, when the
//     runner dies (even by kill -9: the parent-death signal, during a
//     command) or closes the Reaper (fd 3 reaches EOF, between commands).
//
// One thread does all of it, blocking in recvmsg and then in wait4: a job
// wakes the reaper twice, when its request comes and when its command ends.
// (A goroutine reading the socket, handing requests to this thread, cost
// several more thread switches per job.)
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
	syscall.CloseOnExec(socketFD)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	orphaned := make(chan os.Signal, 1)
	signal.Notify(orphaned, orphanSignal)
	go func() {
		<-orphaned // the runner is gone: so is the job
		_ = syscall.Kill(0, syscall.SIGKILL)
	}()
	subErr := setSubreaper()
	for {
		j, err := readRequest(socketFD)
		if err != nil { // the runner is gone (or broken): so is the job
			_ = syscall.Kill(0, syscall.SIGKILL)
			return 0
		}
		status, reported := fmt.Sprintf("error set child subreaper: %v", subErr), false
		if subErr == nil {
			status, reported = runCommand(j)
		}
		if reported {
			reply("done")
		} else { // one write when nothing outlived the command
			reply(status + "\ndone")
		}
	}
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
func runCommand(j reaperJob) (status string, reported bool) {
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
			return status, reported
		case wpid == 0: // descendants left: report now, then wait for them
			reply(status)
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
