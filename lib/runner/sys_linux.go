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
