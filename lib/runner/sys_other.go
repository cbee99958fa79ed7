//go:build !linux

package runner

import "syscall"

// setSubreaper does nothing where there are no child subreapers: the reaper
// then only waits for the command itself, and the runner kills the rest of
// the process group once the reaper is gone.
func setSubreaper() error { return nil }

// commandAttr: no parent-death signal outside Linux.
func commandAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

// recvFlags: the reaper marks the file descriptors it receives
// close-on-exec just after receiving them.
const recvFlags = 0

// orphanSignal: without a parent-death signal, a reaper learns that the
// runner is gone when its socket reaches EOF, which it reads between
// commands.
const orphanSignal = syscall.SIGUSR2

// reaperAttr: a new process group, and no parent-death signal.
func reaperAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// signalTree sends sig to the reaper's process group: without /proc and
// child subreapers, a process that left the group escapes. SIGKILL ends
// the reaper too. It says one process was signalled.
func signalTree(pid int, sig syscall.Signal) int {
	_ = syscall.Kill(0, sig)
	return 1
}

// killTree does nothing: without /proc and child subreapers, what left the
// group is out of reach, and the group is killed after it.
func killTree(pid int) {}
