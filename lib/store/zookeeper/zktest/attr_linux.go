package zktest

import "syscall"

// serverAttr puts a server in its own process group, killed with the test
// binary (a parent-death signal).
func serverAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
