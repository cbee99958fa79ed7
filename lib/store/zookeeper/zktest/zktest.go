// Package zktest starts real ZooKeeper servers for tests, from Debian's
// zookeeper package: the server class run by java in the foreground, on free
// 127.0.0.1 ports, in a temporary directory, with a short tick so that
// session expiry is quick, the admin server off and every four-letter word
// allowed.
//
// A JVM is slow to start, so a test binary starts one shared server in
// TestMain (StartMain) and gives each test its own chroot; tests that stop,
// kill or restart a server start their own (Start, StartEnsemble).
//
// When java or ZooKeeper's jars are missing, tests skip with a loud reason,
// or fail when the environment sets STOLOS_TEST_REQUIRE_SERVERS=1 (CI does).
//
// A server's heap is at most 1 GB, or what STOLOS_TEST_ZK_HEAP says (a
// java -Xmx value such as 4g: the bench's million-job app needs more).
package zktest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store/storetest"
	"github.com/stolos-sched/stolos/lib/testenv"
)

// HeapEnv is the environment variable that sets the servers' maximum heap.
const HeapEnv = "STOLOS_TEST_ZK_HEAP"

// TickTime is the servers' tick. A session timeout may be as short as two
// ticks, so tests can wait out an expiry in well under a second.
const TickTime = 100 * time.Millisecond

// startTimeout bounds how long a server may take to serve.
const startTimeout = 60 * time.Second

// jarDir is where Debian installs ZooKeeper's jar; its manifest names the
// other jars it needs.
const jarDir = "/usr/share/java"

// ErrMissing is returned (wrapped) by StartMain when java or ZooKeeper is
// not installed.
var ErrMissing = errors.New("zookeeper not installed")

// Server is one ZooKeeper server process (or one node of an ensemble).
type Server struct {
	dir       string // data dir and config
	port      int    // client port
	java      string
	classpath string
	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{}
	id        int
}

// find returns the java binary and the class path, or an error wrapping
// ErrMissing.
func find() (java, classpath string, err error) {
	java, err = exec.LookPath("java")
	if err != nil {
		return "", "", fmt.Errorf("%w: java not found (apt-get install -y zookeeper)", ErrMissing)
	}
	jar := filepath.Join(jarDir, "zookeeper.jar")
	if _, err := os.Stat(jar); err != nil {
		return "", "", fmt.Errorf("%w: %s not found (apt-get install -y zookeeper)", ErrMissing, jar)
	}
	// The manifest's Class-Path holds the dependencies; logging goes to
	// slf4j's no-op binding when none is on the path.
	return java, jar, nil
}

// unavailable skips or fails tb for a missing server.
func unavailable(tb testing.TB, err error) {
	tb.Helper()
	testenv.Unavailable(tb, fmt.Errorf("no ZooKeeper server for this test: %w", err))
}

// newServer writes a standalone config in a new temporary directory.
func newServer() (*Server, error) {
	java, cp, err := find()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "zktest-")
	if err != nil {
		return nil, err
	}
	port, err := storetest.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, port: port, java: java, classpath: cp}
	if err := s.writeConfig(nil); err != nil {
		return nil, err
	}
	return s, nil
}

// writeConfig writes zoo.cfg; servers, if set, are the ensemble's lines.
func (s *Server) writeConfig(servers []string) error {
	data := filepath.Join(s.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	cfg := []string{
		"tickTime=" + strconv.Itoa(int(TickTime/time.Millisecond)),
		"initLimit=50",
		"syncLimit=20",
		"dataDir=" + data,
		"clientPort=" + strconv.Itoa(s.port),
		"clientPortAddress=127.0.0.1",
		"admin.enableServer=false",
		"4lw.commands.whitelist=*",
		"maxClientCnxns=0",
		"autopurge.purgeInterval=0",
		"forceSync=no",
	}
	cfg = append(cfg, servers...)
	if len(servers) > 0 {
		if err := os.WriteFile(filepath.Join(data, "myid"), []byte(strconv.Itoa(s.id)+"\n"), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(s.dir, "zoo.cfg"), []byte(strings.Join(cfg, "\n")+"\n"), 0o644)
}

// launch starts the process; it does not wait for it to serve.
func (s *Server) launch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("zktest: server already running")
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	heap := os.Getenv(HeapEnv)
	if heap == "" {
		heap = "1g"
	}
	cmd := exec.Command(s.java,
		"-Xms64m", "-Xmx"+heap, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
		"-Dzookeeper.admin.enableServer=false",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-cp", s.classpath,
		"org.apache.zookeeper.server.quorum.QuorumPeerMain",
		filepath.Join(s.dir, "zoo.cfg"))
	cmd.Dir = s.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = serverAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("zktest: start java: %v", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	return nil
}

// Hosts is the server's client address, host:port.
func (s *Server) Hosts() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Dir is the server's directory (config, data, server.log).
func (s *Server) Dir() string { return s.dir }

// WaitServing waits until the server answers "ruok" with "imok" and "srvr"
// says it serves (in an ensemble: it has joined a quorum).
func (s *Server) WaitServing(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		s.mu.Lock()
		done := s.done
		s.mu.Unlock()
		if done == nil {
			return errors.New("zktest: server not running")
		}
		select {
		case <-done:
			return fmt.Errorf("zktest: server exited; see %s", filepath.Join(s.dir, "server.log"))
		default:
		}
		out, err := s.FourLetter("srvr", time.Second)
		if err == nil && strings.Contains(out, "Mode: ") {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("not serving yet: %q", firstLine(out))
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("zktest: server %s not serving after %v: %v", s.Hosts(), timeout, last)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// FourLetter sends a four-letter-word command and returns the answer.
func (s *Server) FourLetter(cmd string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", s.Hosts(), timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return "", err
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String(), nil
}

// signal sends sig to the process and waits for it to exit.
func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
		return nil
	case <-time.After(20 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("zktest: server %s ignored %v", s.Hosts(), sig)
	}
}

// Pause stops the server with SIGSTOP, as a stall of its host would:
// connections stay open and nothing answers. Resume ends it.
func (s *Server) Pause() error { return s.send(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() error { return s.send(syscall.SIGCONT) }

// send sends sig to the server's process group.
func (s *Server) send(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return fmt.Errorf("zktest: server %s is not running", s.Hosts())
	}
	return syscall.Kill(-s.cmd.Process.Pid, sig)
}

// Stop stops the server (SIGTERM) and waits for it to exit.
func (s *Server) Stop() error { return s.signal(syscall.SIGTERM) }

// Kill kills the server (SIGKILL) and waits for it to exit.
func (s *Server) Kill() error { return s.signal(syscall.SIGKILL) }

// Restart starts a stopped or killed server again on the same port with the
// same data, and waits until it serves (for an ensemble node: until it has
// joined a quorum, which needs a majority running).
func (s *Server) Restart() error {
	if err := s.launch(); err != nil {
		return err
	}
	return s.WaitServing(startTimeout)
}

// Start restarts a stopped node; the same as Restart.
func (s *Server) Start() error { return s.Restart() }

// cleanup kills the server and removes its directory.
func (s *Server) cleanup() {
	s.Kill()
	os.RemoveAll(s.dir)
}

// StartMain starts the shared server of a test binary, from TestMain. The
// returned function stops it and removes its files. A missing java or
// ZooKeeper yields an error wrapping ErrMissing: TestMain keeps going and
// tests call Skip (through Require) so the reason is printed.
func StartMain() (*Server, func(), error) {
	s, err := newServer()
	if err != nil {
		return nil, func() {}, err
	}
	if err := s.launch(); err != nil {
		s.cleanup()
		return nil, func() {}, err
	}
	if err := s.WaitServing(startTimeout); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
		s.cleanup()
		return nil, func() {}, fmt.Errorf("%v\n%s", err, log)
	}
	return s, s.cleanup, nil
}

// Require skips or fails tb when StartMain failed with err (missing
// servers), and fails it for any other error.
func Require(tb testing.TB, s *Server, err error) *Server {
	tb.Helper()
	if errors.Is(err, ErrMissing) {
		unavailable(tb, err)
	}
	if err != nil {
		tb.Fatalf("zktest: %v", err)
	}
	return s
}

// Start starts a server of tb's own, stopped when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, stop, err := StartMain()
	Require(tb, s, err)
	tb.Cleanup(stop)
	return s
}

// Ensemble is a quorum of servers on loopback.
type Ensemble struct {
	Servers []*Server
}

// Hosts is every node's client address, comma-separated.
func (e *Ensemble) Hosts() string {
	var h []string
	for _, s := range e.Servers {
		h = append(h, s.Hosts())
	}
	return strings.Join(h, ",")
}

// StartEnsemble starts n servers forming one ensemble, each with its own
// client, peer and election ports, and waits until all serve. They stop
// when tb ends.
func StartEnsemble(tb testing.TB, n int) *Ensemble {
	tb.Helper()
	e := &Ensemble{}
	var lines []string
	for i := 1; i <= n; i++ {
		s, err := newServer()
		if err != nil {
			if errors.Is(err, ErrMissing) {
				unavailable(tb, err)
			}
			tb.Fatalf("zktest: %v", err)
		}
		s.id = i
		tb.Cleanup(s.cleanup)
		peer, err1 := storetest.FreePort()
		elect, err2 := storetest.FreePort()
		if err := errors.Join(err1, err2); err != nil {
			tb.Fatalf("zktest: %v", err)
		}
		lines = append(lines, fmt.Sprintf("server.%d=127.0.0.1:%d:%d", i, peer, elect))
		e.Servers = append(e.Servers, s)
	}
	for _, s := range e.Servers {
		if err := s.writeConfig(lines); err != nil {
			tb.Fatalf("zktest: %v", err)
		}
		if err := s.launch(); err != nil {
			tb.Fatalf("zktest: %v", err)
		}
	}
	for _, s := range e.Servers {
		if err := s.WaitServing(startTimeout); err != nil {
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			tb.Fatalf("%v\n%s", err, log)
		}
	}
	return e
}
