package zktest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store/zookeeper/zktest"
)

func TestStartKillRestart(t *testing.T) {
	s := zktest.Start(t)
	out, err := s.FourLetter("ruok", time.Second)
	if err != nil || out != "imok" {
		t.Fatalf("ruok: %q, %v", out, err)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FourLetter("ruok", time.Second); err == nil {
		t.Fatal("killed server still answers")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	out, err = s.FourLetter("srvr", time.Second)
	if err != nil || !strings.Contains(out, "Mode: standalone") {
		t.Fatalf("srvr after restart: %q, %v", out, err)
	}
}

func TestEnsemble(t *testing.T) {
	if testing.Short() {
		t.Skip("ensemble start is slow")
	}
	e := zktest.StartEnsemble(t, 3)
	modes := map[string]int{}
	for _, s := range e.Servers {
		out, err := s.FourLetter("srvr", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(out, "\n") {
			if m, ok := strings.CutPrefix(l, "Mode: "); ok {
				modes[m]++
			}
		}
	}
	if modes["leader"] != 1 || modes["follower"] != 2 {
		t.Fatalf("modes %v, want one leader and two followers", modes)
	}
	if n := strings.Count(e.Hosts(), ","); n != 2 {
		t.Fatalf("hosts %q", e.Hosts())
	}
}
