package redis

import (
	"bufio"
	"fmt"
	"maps"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/redis/redistest"
)

// A process's set-up costs a few commands and loads no script when the
// server has them (issue 11: each stolos-exec process sent 25 commands
// before its first job). The first Open on a fresh server loads each
// script it runs on first use (EVALSHA, NOSCRIPT, EVAL); a later Open
// sends EVALSHA only. Counted with MONITOR on a server of its own
// (commands that scripts run are left out); MONITOR does not show
// checkServer's three CONFIG GETs, nor do we count the HELLO that opens
// each connection: 7 commands in all (25 when Open sent PING and
// SCRIPT LOAD of every script).
func TestOpenCommands(t *testing.T) {
	srv := redistest.Start(t)
	ctx := tctx(t)
	o := Options{Host: srv.Host(), Port: srv.Port(), KeyPrefix: "p:"}
	claim := func() {
		b, err := Open(ctx, o, &strings.Builder{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if _, err := b.Claim(ctx, store.ClaimRequest{App: "a", Owner: "w", N: 1, Lease: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		want map[string]int
	}{
		{"cold", map[string]int{"eval": 2, "evalsha": 2}},
		{"warm", map[string]int{"evalsha": 2}},
	} {
		got := monitor(t, srv.Addr(), claim)
		delete(got, "hello") // one per connection the pool opens
		if !maps.Equal(got, tc.want) {
			t.Errorf("%s: commands of Open and one Claim = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// monitor counts by name the commands that clients send to the server at
// addr while fn runs.
func monitor(t *testing.T, addr string, fn func()) map[string]int {
	t.Helper()
	mon, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	mon.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(mon)
	fmt.Fprint(mon, "MONITOR\r\n")
	if line, err := r.ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("MONITOR: %q %v", line, err)
	}
	fn()
	// The end: a command of our own, after fn's.
	end, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer end.Close()
	fmt.Fprint(end, "ECHO stolos-monitor-end\r\n")
	got := map[string]int{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("MONITOR: %v", err)
		}
		if strings.Contains(line, "stolos-monitor-end") {
			return got
		}
		// +1700000000.123456 [0 127.0.0.1:53412] "evalsha" "..."
		_, rest, ok := strings.Cut(line, "] \"")
		if !ok || strings.Contains(line, " lua] ") {
			continue
		}
		name, _, _ := strings.Cut(rest, "\"")
		got[strings.ToLower(name)]++
	}
}
