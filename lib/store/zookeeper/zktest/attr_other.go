//go:build !linux

package zktest

import "syscall"

// serverAttr puts a server in its own process group. Without a
// parent-death signal (Linux only), a server outlives a test binary that
// is killed.
func serverAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
