package runner

import (
	"bytes"
	"os"
	"strconv"
	"syscall"

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
		if syscall.Kill(p, sig) == nil {
			n++
		}
	}
	return n
}

// descendants lists the live (not zombie) descendants of pid.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone
		}
		// pid (comm) state ppid ...; comm may hold anything, ")" too.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) < 2 || string(f[0]) == "Z" || string(f[0]) == "X" {
			continue
		}
		ppid, err := strconv.Atoi(string(f[1]))
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	for next := children[pid]; len(next) > 0; {
		p := next[0]
		next = append(next[1:], children[p]...)
		out = append(out, p)
	}
	return out
}
