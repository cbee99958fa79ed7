package runner

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setSubreaper makes the calling process adopt its orphaned descendants.
func setSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// commandAttr is how the reaper starts the command: killed by SIGKILL when
// the reaper's thread that started it dies.
func commandAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// recvFlags makes the file descriptors the reaper receives close-on-exec
// at once.
const recvFlags = syscall.MSG_CMSG_CLOEXEC

// orphanSignal is the reaper's parent-death signal: the runner is gone.
const orphanSignal = syscall.SIGUSR2

// reaperAttr is how the runner starts a reaper: leader of a new process
// group, sent orphanSignal when the runner dies.
func reaperAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: orphanSignal}
}

// signalTree sends sig to every live descendant of pid (itself excluded),
// found in /proc: a child subreaper's descendants stay its descendants, in
// any process group or session. It returns how many it signalled.
func signalTree(pid int, sig syscall.Signal) int {
	n := 0
	for _, p := range descendants(pid) {
		if signalProc(p, sig) {
			n++
		}
	}
	return n
}

// killTree kills every live descendant of pid with SIGKILL, again until
// none is left (one that forks meanwhile is found by the next walk).
func killTree(pid int) {
	for signalTree(pid, syscall.SIGKILL) > 0 {
		time.Sleep(time.Millisecond)
	}
}

// procID names a process for good: its pid and its start time (in clock
// ticks since boot, /proc/PID/stat field 22). A pid alone may name another
// process by the time it is signalled: the one seen may have ended (and
// been reaped: the reaper reaps as it walks) and its pid been reused, which
// takes seconds on a busy machine (pid_max 32768).
type procID struct {
	pid   int
	start uint64
}

// pidfdOpen is pidfd_open(2) (a variable for tests).
var pidfdOpen = unix.PidfdOpen

// signalProc sends sig to process p, unless it is gone, and says whether
// it did. A pidfd pins the process that the pid names when it is opened;
// the start time read after says whether that one is p.
func signalProc(p procID, sig syscall.Signal) bool {
	fd, err := pidfdOpen(p.pid, 0)
	switch {
	case err == syscall.ESRCH:
		return false // gone
	case err != nil:
		// No pidfds (before Linux 5.3: ENOSYS; a seccomp filter: EPERM):
		// check, then kill, which leaves a window of a few instructions.
		_, _, start, ok := procStat(p.pid)
		return ok && start == p.start && syscall.Kill(p.pid, sig) == nil
	}
	defer unix.Close(fd)
	if _, _, start, ok := procStat(p.pid); !ok || start != p.start {
		return false
	}
	return unix.PidfdSendSignal(fd, sig, nil, 0) == nil
}

// procStat reads a process's state, parent and start time from
// /proc/PID/stat.
func procStat(pid int) (state string, ppid int, start uint64, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, 0, false // gone
	}
	// pid (comm) state ppid ... starttime (field 22); comm may hold
	// anything, ")" too.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return "", 0, 0, false
	}
	f := bytes.Fields(stat[i+1:]) // from field 3
	if len(f) < 20 {
		return "", 0, 0, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	start, err2 := strconv.ParseUint(string(f[19]), 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, 0, false
	}
	return string(f[0]), ppid, start, true
}

// descendants lists the live (not zombie) descendants of pid.
func descendants(pid int) []procID {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]procID{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, ppid, start, ok := procStat(p)
		if !ok || state == "Z" || state == "X" {
			continue
		}
		children[ppid] = append(children[ppid], procID{p, start})
	}
	// The stats are read one by one while processes come and go: a pid
	// reused meanwhile could make a loop. Each is listed once.
	var out []procID
	listed := map[int]bool{pid: true}
	for next := children[pid]; len(next) > 0; {
		p := next[0]
		next = next[1:]
		if listed[p.pid] {
			continue
		}
		listed[p.pid] = true
		next = append(next, children[p.pid]...)
		out = append(out, p)
	}
	return out
}
