package runner

import (
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
