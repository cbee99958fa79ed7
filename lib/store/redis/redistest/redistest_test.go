package redistest

import (
	"testing"

	"github.com/stolos-sched/stolos/lib/testenv"
)

func TestStartRestart(t *testing.T) {
	s := Start(t)
	if err := s.ping(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := s.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := s.ping(); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	s.Stop()
	if err := s.ping(); err == nil {
		t.Fatal("ping after stop: no error")
	}
}

func TestPasswordTLS(t *testing.T) {
	s := StartConfig(t, Config{Password: "sec ret", TLS: true})
	if err := s.ping(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if s.TLSConfig() == nil {
		t.Fatal("no TLS config")
	}
}

func TestStartMain(t *testing.T) {
	s, stop, err := StartMain()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	s.Require(t)
	if err := s.ping(); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(testenv.RequireEnv, "")
	s, stop, err := StartMain()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if s.missing != "redis-server not found in PATH" {
		t.Fatalf("missing = %q", s.missing)
	}
}
