//go:build !linux

package runner

import "syscall"

// setSubreaper does nothing where there are no child subreapers: the reaper
// then only waits for the command itself, and the runner kills the rest of
// the process group once the reaper is gone.
func setSubreaper() error { return nil }

// commandAttr: no parent-death signal outside Linux.
func commandAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
