//go:build linux

package sched

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/store"
)

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "__sched_node" {
		// A tool that makes a node: its valid_if_or _func runs (and
		// writes its pid in the file os.Args[2]).
		cfg, err := config.Parse([]byte(`{"a": {"job_id": "{x}", "valid_if_or": {"_func": "echo $$ > `+os.Args[2]+`; exec sleep 1000"}}}`), config.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		s := &Sched{Cfg: cfg}
		j, err := s.Resolve(store.Ref{App: "a", JobID: "1"})
		if err == nil {
			_, err = s.Node(context.Background(), j)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// A valid_if_or _func command dies with the tool that runs it, even by
// kill -9, as a job's command does.
func TestValidFuncDiesWithItsTool(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tool := exec.Command(exe, "__sched_node", pidFile)
	var stderr bytes.Buffer
	tool.Stderr = &stderr
	if err := tool.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var pid int
	for {
		b, err := os.ReadFile(pidFile)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			pid, _ = strconv.Atoi(string(bytes.TrimSpace(b)))
			break
		}
		if time.Now().After(deadline) {
			tool.Process.Kill()
			t.Fatalf("the _func never started: %s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := tool.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = tool.Wait()
	for gone := false; !gone; {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		i := bytes.LastIndexByte(b, ')')
		gone = err != nil || i > 0 && i+2 < len(b) && b[i+2] == 'Z'
		if !gone && time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the _func (pid %d) outlived its tool 10s after kill -9", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
