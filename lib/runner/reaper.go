package runner

import (
	"bufio"
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

// The reaper's file descriptors, set up by start: the read end of the
// lifeline (EOF when the runner is gone) and the write end of the status
// pipe (one line: the command's status text, or "error ..." when it could
// not start).
const (
	lifelineFD = 3
	statusFD   = 4
)

// ReaperMain is the hidden mode a Job's Reaper argv starts: it runs the
// command args (args[0] an absolute path) and watches over its process group.
// The program that calls Run must dispatch to it, e.g. stolos-exec's main does
// os.Exit(runner.ReaperMain(os.Args[2:])) when os.Args[1] is "__stolos_reaper".
//
// The runner starts the reaper as the leader of a new process group, with
// the lifeline pipe on fd 3 and the status pipe on fd 4. The reaper:
//   - becomes a child subreaper (Linux), so every descendant of the command
//     that loses its parent becomes its child and is reaped by it;
//   - starts the command in its own group with the parent-death signal
//     SIGKILL, so the command dies if the reaper does;
//   - writes the command's status ("exit 3", "signal KILL") to fd 4 when it
//     ends, then waits until it has no descendants left and exits 0, so the
//     end of the status pipe tells the runner that the whole job is gone;
//   - ignores SIGTERM, SIGINT, SIGHUP and SIGQUIT, which the runner sends to
//     the whole group (they reach the command directly);
//   - kills its whole process group with SIGKILL, itself included, when the
//     lifeline reaches EOF, which happens only when the runner has died (even
//     by kill -9): the runner keeps the lifeline open until the reaper is
//     gone.
//
// It returns 2, with a message on stderr, when it was not started that way.
func ReaperMain(args []string) int {
	// The command's parent-death signal fires when the thread that started
	// it exits: keep this goroutine on its thread for good.
	runtime.LockOSThread()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "stolos reaper: no command given")
		return 2
	}
	if syscall.Getpgrp() != syscall.Getpid() {
		fmt.Fprintln(os.Stderr, "stolos reaper: not the leader of its process group")
		return 2
	}
	for _, fd := range []int{lifelineFD, statusFD} {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
			fmt.Fprintf(os.Stderr, "stolos reaper: fd %d is not a pipe\n", fd)
			return 2
		}
		syscall.CloseOnExec(fd)
	}
	status := os.NewFile(statusFD, "status")
	lifeline := os.NewFile(lifelineFD, "lifeline")
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	if err := setSubreaper(); err != nil {
		fmt.Fprintf(status, "error set child subreaper: %v\n", err)
		return 1
	}
	go func() {
		_, _ = io.Copy(io.Discard, lifeline)
		_ = syscall.Kill(0, syscall.SIGKILL)
	}()
	pid, err := syscall.ForkExec(args[0], args, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   commandAttr(),
	})
	if err != nil {
		fmt.Fprintf(status, "error %s: %v\n", args[0], err)
		return 1
	}
	for {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil { // ECHILD: no descendant left
			return 0
		}
		if wpid == pid {
			fmt.Fprintln(status, statusText(ws))
		}
	}
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

// readStatus reads the reaper's status pipe: it sends the first line (without
// its newline; "" if the pipe ended first) on line, then closes gone when the
// pipe ends, that is when the reaper has exited.
func readStatus(r io.ReadCloser, line chan<- string, gone chan<- struct{}) {
	br := bufio.NewReader(r)
	s, _ := br.ReadString('\n')
	line <- strings.TrimSuffix(s, "\n")
	_, _ = io.Copy(io.Discard, br)
	_ = r.Close()
	close(gone)
}
