package stolos_test

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store/redis/redistest"
	"github.com/stolos-sched/stolos/lib/store/zookeeper/zktest"
)

// syncBuffer is a bytes.Buffer that a process writes while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A stolos-exec -loop -wait worker outlives an outage of its server
// (killed and restarted, or paused past the client's timeouts): it says so
// once when its claims start failing and once when they work again, and
// runs the next job afterwards. Before, the worker exited at the first
// failed claim ("claim: redis ...: i/o timeout", exit 1).
func TestWorkerOutlivesOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("outages take seconds; -short skips them")
	}
	bin := buildChaosTools(t)
	tasks := filepath.Join(t.TempDir(), "tasks.json")
	if err := os.WriteFile(tasks, []byte(`{"w": {"job_id": "{n}", "bash_cmd": "true"}}`), 0o666); err != nil {
		t.Fatal(err)
	}
	type server struct {
		env           []string
		stop, restart func() error
	}
	backends := map[string]func(t *testing.T, fault string) server{
		"redis": func(t *testing.T, fault string) server {
			s := redistest.Start(t)
			env := []string{"STOLOS_QB_REDIS_HOST=" + s.Host(), "STOLOS_QB_REDIS_PORT=" + strconv.Itoa(s.Port())}
			if fault == "paused" {
				return server{env, s.Pause, s.Resume}
			}
			return server{env, func() error { s.Kill(); return nil }, s.Restart}
		},
		"zookeeper": func(t *testing.T, fault string) server {
			s := zktest.Start(t)
			env := []string{"STOLOS_QB_ZOOKEEPER_HOSTS=" + s.Hosts() + "/outage"}
			if fault == "paused" {
				return server{env, s.Pause, s.Resume}
			}
			return server{env, s.Kill, s.Restart}
		},
	}
	for _, backend := range slices.Sorted(maps.Keys(backends)) {
		for _, fault := range []string{"killed", "paused"} {
			t.Run(backend+"/"+fault, func(t *testing.T) {
				// The lease is longer than the outage: a worker counts its
				// lease from when it sent the claim, and a ZooKeeper claim
				// sent during the outage returns only after it.
				srv := backends[backend](t, fault)
				env := append(os.Environ(), "STOLOS_TASKS_JSON="+tasks, "STOLOS_QUEUE_BACKEND="+backend)
				env = append(env, srv.env...)
				tool := func(name string, args ...string) {
					t.Helper()
					cmd := exec.Command(filepath.Join(bin, name), args...)
					cmd.Env = env
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
					}
				}
				var stderr syncBuffer
				w := exec.Command(filepath.Join(bin, "stolos-exec"), "-a", "w", "-loop", "-wait", "200ms", "-lease", "30s")
				w.Env = env
				w.Stderr = &stderr
				if err := w.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { w.Process.Kill() })
				has := func(s string) func() bool {
					return func() bool { return strings.Contains(stderr.String(), s) }
				}
				tool("stolos-submit", "-a", "w", "1")
				waitUntil(t, "job 1 ran", 30*time.Second, has("w 1 attempt 1: exit 0, completed"))

				if err := srv.stop(); err != nil {
					t.Fatal(err)
				}
				if backend == "zookeeper" {
					// The backend retries a lost connection itself for a
					// minute (and a session that expired meanwhile is
					// replaced): an outage longer than the session timeout
					// (5s) and shorter than that passes without a line.
					time.Sleep(6 * time.Second)
				} else {
					waitUntil(t, "the worker saw the outage", 30*time.Second, has("retrying until the backend answers"))
				}
				if err := srv.restart(); err != nil {
					t.Fatal(err)
				}
				tool("stolos-submit", "-a", "w", "2")
				waitUntil(t, "job 2 ran", 30*time.Second, has("w 2 attempt 1: exit 0, completed"))

				w.Process.Signal(syscall.SIGTERM)
				var ee *exec.ExitError
				if err := w.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 3 {
					t.Errorf("worker exit: %v, want exit status 3 (interrupted)", err)
				}
				want := []string{
					`stolos-exec: w 1 attempt 1: exit 0, completed`,
					`stolos-exec: claim: redis 127\.0\.0\.1:[0-9]+: .+; retrying until the backend answers`,
					`stolos-exec: the backend answers again, after an outage of [0-9.]+m?s`,
					`stolos-exec: w 2 attempt 1: exit 0, completed`,
				}
				if backend == "zookeeper" {
					want = []string{want[0], want[3]}
				}
				got := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
				ok := len(got) == len(want)
				for i := 0; ok && i < len(want); i++ {
					ok = regexp.MustCompile("^" + want[i] + "$").MatchString(got[i])
				}
				if !ok {
					t.Errorf("worker's stderr:\n%s\nwant lines matching:\n%s", stderr.String(), strings.Join(want, "\n"))
				}
				t.Logf("worker's stderr:\n%s", stderr.String())
			})
		}
	}
}
