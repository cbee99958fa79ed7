//go:build linux

package runner

import (
	"os/exec"
	"syscall"
	"testing"
)

// The tree walk signals a process it saw, never another that got its pid
// since (pids wrap within seconds on a busy machine): a process is named
// by its pid and its start time.
// Without pidfds (an old kernel, a seccomp filter) it checks, then kills.
func TestSignalProcChecksIdentity(t *testing.T) {
	t.Run("pidfd", testSignalProc)
	t.Run("no pidfd", func(t *testing.T) {
		defer func(f func(int, int) (int, error)) { pidfdOpen = f }(pidfdOpen)
		pidfdOpen = func(int, int) (int, error) { return -1, syscall.EPERM }
		testSignalProc(t)
	})
}

func testSignalProc(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	var seen procID
	for _, p := range descendants(syscall.Getpid()) {
		if p.pid == pid {
			seen = p
		}
	}
	if seen.pid != pid || seen.start == 0 {
		t.Fatalf("the walk did not see the child %d with its start time: %+v", pid, seen)
	}
	other := procID{pid: pid, start: seen.start + 1} // the pid's earlier or later owner
	if signalProc(other, syscall.SIGKILL) {
		t.Errorf("signalProc signalled %d as another process (start time %d, its own %d)", pid, other.start, seen.start)
	}
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the child died of a signal meant for another process: %v", err)
	}
	if !signalProc(seen, syscall.SIGKILL) {
		t.Fatalf("signalProc did not signal the child it saw")
	}
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("child ended with %v, want killed by SIGKILL", err)
	}
	if signalProc(seen, syscall.SIGKILL) {
		t.Errorf("signalProc says it signalled a process that is gone")
	}
}
