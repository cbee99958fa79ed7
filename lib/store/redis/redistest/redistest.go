// Package redistest starts real redis-server processes for tests: each on a
// free 127.0.0.1 port in its own temporary directory, without persistence
// unless asked, stopped when the test ends.
//
// When redis-server is not installed, tests skip with a loud reason, or fail
// when the environment sets STOLOS_TEST_REQUIRE_SERVERS=1 (CI does).
package redistest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store/storetest"
	"github.com/stolos-sched/stolos/lib/testenv"
)

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 20 * time.Second

// Config says how to start a server.
type Config struct {
	// Password, if set, is passed as --requirepass.
	Password string
	// TLS serves TLS only (no plain port), with a self-signed certificate
	// made for the test; Server.TLSConfig returns a client config trusting it.
	TLS bool
	// Persist makes the append-only file fsync every write, so that Restart
	// after Kill keeps every acknowledged write. Without it the file is
	// written but fsync is left to the system (still no loss on Kill, as
	// the system outlives the process).
	Persist bool
	// Ephemeral turns persistence off (no save points, no append-only
	// file): a restart empties the server.
	Ephemeral bool
	// Args are extra redis-server arguments, appended last.
	Args []string
}

// Server is a running (or stopped) redis-server.
type Server struct {
	cfg     Config
	bin     string
	dir     string
	port    int
	missing string // why there is no server: redis-server not installed
	tlsConf *tls.Config
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Start starts a server for one test, stopped and removed at cleanup. The
// extra arguments are passed to redis-server.
func Start(tb testing.TB, extraArgs ...string) *Server {
	tb.Helper()
	return StartConfig(tb, Config{Args: extraArgs})
}

// StartConfig starts a server for one test, as cfg says.
func StartConfig(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s := &Server{cfg: cfg, dir: tb.TempDir()}
	if err := s.first(); err != nil {
		tb.Fatal(err)
	}
	s.Require(tb)
	tb.Cleanup(s.Stop)
	return s
}

// StartMain starts one server shared by a whole test binary, for TestMain.
// The returned function stops it and removes its directory. When
// redis-server is not installed, it returns a Server whose Require skips
// (or fails) each test that needs it, and no error.
func StartMain() (*Server, func(), error) {
	dir, err := os.MkdirTemp("", "redistest")
	if err != nil {
		return nil, func() {}, err
	}
	s := &Server{dir: dir}
	stop := func() {
		s.Stop()
		os.RemoveAll(dir)
	}
	if err := s.first(); err != nil {
		stop()
		return nil, func() {}, err
	}
	return s, stop, nil
}

// Require skips the test, or fails it when STOLOS_TEST_REQUIRE_SERVERS=1,
// if there is no redis-server to run.
func (s *Server) Require(tb testing.TB) {
	tb.Helper()
	if s.missing == "" {
		return
	}
	testenv.Unavailable(tb, errors.New(s.missing+" (install the redis-server package)"))
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host(), strconv.Itoa(s.port)) }

// Host returns the server's host, 127.0.0.1.
func (s *Server) Host() string { return "127.0.0.1" }

// Port returns the server's port.
func (s *Server) Port() int { return s.port }

// Password returns the password the server requires, or "".
func (s *Server) Password() string { return s.cfg.Password }

// Dir returns the server's working directory (its data and log files).
func (s *Server) Dir() string { return s.dir }

// TLSConfig returns a client TLS configuration that trusts the server's
// certificate, or nil for a server without TLS.
func (s *Server) TLSConfig() *tls.Config {
	if s.tlsConf == nil {
		return nil
	}
	return s.tlsConf.Clone()
}

// first starts the server on a free port, trying again on another port if
// the port was taken meanwhile.
func (s *Server) first() error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		s.missing = "redis-server not found in PATH"
		return nil
	}
	s.bin = bin
	if s.cfg.TLS {
		if err := s.makeCert(); err != nil {
			return err
		}
	}
	for try := 0; ; try++ {
		port, err := storetest.FreePort()
		if err != nil {
			return err
		}
		s.port = port
		err = s.start()
		if err == nil || try == 2 {
			return err
		}
	}
}

// Restart stops the server and starts it again on the same port and in the
// same directory.
func (s *Server) Restart() error {
	s.Stop()
	return s.start()
}

// Stop stops the server (SIGTERM, then SIGKILL after a while) and waits for
// it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Kill kills the server at once (SIGKILL), as a crash would, and waits for
// it to exit.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Pause stops the server with SIGSTOP, as a stall of its host would:
// connections stay open and nothing answers. Resume ends it.
func (s *Server) Pause() error { return s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() error { return s.cmd.Process.Signal(syscall.SIGCONT) }

func (s *Server) args() []string {
	a := []string{
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"),
		"--daemonize", "no",
		"--save", "",
	}
	if s.cfg.TLS {
		a = append(a, "--port", "0", "--tls-port", strconv.Itoa(s.port),
			"--tls-cert-file", filepath.Join(s.dir, "cert.pem"),
			"--tls-key-file", filepath.Join(s.dir, "key.pem"),
			"--tls-ca-cert-file", filepath.Join(s.dir, "cert.pem"),
			"--tls-auth-clients", "no")
	} else {
		a = append(a, "--port", strconv.Itoa(s.port))
	}
	switch {
	case s.cfg.Ephemeral:
		a = append(a, "--appendonly", "no")
	case s.cfg.Persist:
		a = append(a, "--appendonly", "yes", "--appendfsync", "always")
	default:
		// Persistence as stolos asks of a server (and so no warning).
		a = append(a, "--appendonly", "yes", "--appendfsync", "no")
	}
	if s.cfg.Password != "" {
		a = append(a, "--requirepass", s.cfg.Password)
	}
	return append(a, s.cfg.Args...)
}

// start runs redis-server and waits until it answers PING.
func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("redis-server on port %d exited at start: %s", s.port, s.logTail())
		default:
		}
		if last = s.ping(); last == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("redis-server on port %d did not answer PING within %v: %v", s.port, startTimeout, last)
}

// ping connects and sends AUTH (if needed) and PING, in the plain RESP
// protocol, and wants +PONG.
func (s *Server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.Addr())
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if s.tlsConf != nil {
		tc := tls.Client(c, s.tlsConf)
		if err := tc.Handshake(); err != nil {
			return err
		}
		c = tc
	}
	r := bufio.NewReader(c)
	if s.cfg.Password != "" {
		if _, err := fmt.Fprintf(c, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(s.cfg.Password), s.cfg.Password); err != nil {
			return err
		}
		if line, err := r.ReadString('\n'); err != nil {
			return err
		} else if !strings.HasPrefix(line, "+OK") {
			return errors.New(strings.TrimSpace(line))
		}
	}
	if _, err := fmt.Fprint(c, "PING\r\n"); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return errors.New(strings.TrimSpace(line)) // -LOADING while reading the AOF
	}
	return nil
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// makeCert writes a self-signed certificate for 127.0.0.1 into the server's
// directory and keeps a client configuration that trusts it.
func (s *Server) makeCert() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redistest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(s.dir, "cert.pem"), certPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "key.pem"), keyPEM, 0o600); err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	s.tlsConf = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return nil
}
