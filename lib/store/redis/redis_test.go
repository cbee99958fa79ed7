package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/redis/redistest"
	"github.com/stolos-sched/stolos/lib/store/storetest"
)

// shared is the server of this test binary, started by TestMain.
var shared *redistest.Server

// prefixes numbers the key prefixes handed out in this process.
var prefixes atomic.Int64

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	storetest.MaybeChild(harness)
	srv, stop, err := redistest.StartMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	shared = srv
	return m.Run()
}

// newSpec returns a spec for a fresh namespace (key prefix) on the shared
// server: redis://host:port/db?prefix=P.
func newSpec(t testing.TB) string {
	t.Helper()
	shared.Require(t)
	p := fmt.Sprintf("t%d-%d:", os.Getpid(), prefixes.Add(1))
	return "redis://" + shared.Addr() + "/0?prefix=" + url.QueryEscape(p)
}

// openSpec opens a backend on a spec made by newSpec.
func openSpec(spec string) (store.Backend, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, err
	}
	o := Options{Host: host, KeyPrefix: u.Query().Get("prefix"), Password: u.Query().Get("password")}
	if o.Port, err = strconv.Atoi(port); err != nil {
		return nil, err
	}
	if o.DB, err = strconv.Atoi(strings.TrimPrefix(u.Path, "/")); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Open(ctx, o, nil)
}

// open opens a backend on a fresh namespace, closed at the end of the test.
func open(t *testing.T) (*Backend, string) {
	t.Helper()
	spec := newSpec(t)
	b, err := openSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.(*Backend), spec
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ref(app, id string) store.Ref { return store.Ref{App: app, JobID: id} }

func item(app, id string, pri int) store.SubmitItem {
	return store.SubmitItem{Node: store.Node{Ref: ref(app, id)}, Priority: pri}
}

func claimIDs(t *testing.T, b *Backend, app string, n int) []string {
	t.Helper()
	res, err := b.Claim(tctx(t), store.ClaimRequest{App: app, Owner: "w", N: n, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range res.Leases {
		ids = append(ids, l.JobID)
	}
	return ids
}

// Priorities are numbers (the original compared them as strings), negative
// ones included; equal priorities come out first in, first out.
func TestPriorityIsNumeric(t *testing.T) {
	b, _ := open(t)
	ctx := tctx(t)
	var items []store.SubmitItem
	for i, p := range []int{100, 20, -5, 3, 20, 1000, -40} {
		items = append(items, item("a", "j"+strconv.Itoa(i), p))
	}
	if _, err := b.Submit(ctx, items); err != nil {
		t.Fatal(err)
	}
	got := claimIDs(t, b, "a", 10)
	want := []string{"j6", "j2", "j3", "j1", "j4", "j0", "j5"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("claim order = %v, want %v", got, want)
	}
}

// App names and job ids with the separator in them do not collide.
func TestKeyNamesUnambiguous(t *testing.T) {
	b, _ := open(t)
	ctx := tctx(t)
	if _, err := b.Submit(ctx, []store.SubmitItem{item("a:j", "x", 1), item("a", "j:x", 1)}); err != nil {
		t.Fatal(err)
	}
	jobs, err := b.Get(ctx, []store.Ref{ref("a:j", "x"), ref("a", "j:x"), ref("a", "x")})
	if err != nil {
		t.Fatal(err)
	}
	states := []store.State{jobs[0].State, jobs[1].State, jobs[2].State}
	if want := []store.State{store.Pending, store.Pending, store.Absent}; !reflect.DeepEqual(states, want) {
		t.Fatalf("states = %v, want %v", states, want)
	}
	if got := claimIDs(t, b, "a", 5); !reflect.DeepEqual(got, []string{"j:x"}) {
		t.Fatalf("claim a = %v", got)
	}
}

// keys lists the keys of a namespace.
func keys(t *testing.T, spec string, db int) []string {
	t.Helper()
	u, _ := url.Parse(spec)
	c := goredis.NewClient(&goredis.Options{Addr: u.Host, DB: db, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	ks, err := c.Keys(tctx(t), u.Query().Get("prefix")+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// Running jobs to completion leaves only the job hashes, the state sets,
// the counters, and the history (one ring per job that recorded an
// attempt, one index per app): no key per consumed entry (the original
// kept one forever).
func TestNoLeakedKeys(t *testing.T) {
	b, spec := open(t)
	ctx := tctx(t)
	if _, err := b.Submit(ctx, []store.SubmitItem{item("a", "1", 1), item("a", "2", 1), item("a", "3", 1)}); err != nil {
		t.Fatal(err)
	}
	res, err := b.Claim(ctx, store.ClaimRequest{App: "a", Owner: "w", N: 3, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Complete(ctx, res.Leases[0], "exit 0", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fail(ctx, res.Leases[1], "exit 1", 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.SetState(ctx, ref("a", "3"), store.Skipped, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx, res.Leases[2]); err != nil { // the holder of the revoked lease
		t.Fatal(err)
	}
	u, _ := url.Parse(spec)
	p := u.Query().Get("prefix")
	got := keys(t, spec, 0)
	want := map[string]bool{
		p + "1:a:j:1": true, p + "1:a:j:2": true, p + "1:a:j:3": true,
		p + "1:a:s:completed": true, p + "1:a:s:failed": true, p + "1:a:s:skipped": true,
		p + "seq": true, p + "tok": true, p + "installation": true,
		p + "1:a:a:1": true, p + "1:a:a:2": true, p + "1:a:h": true,
	}
	if len(got) != len(want) {
		t.Fatalf("keys = %v, want %d keys", got, len(want))
	}
	for _, k := range got {
		if !want[k] {
			t.Fatalf("unexpected key %q among %v", k, got)
		}
	}
}

func TestOpenWrongPassword(t *testing.T) {
	srv := redistest.StartConfig(t, redistest.Config{Password: "s3cret"})
	ctx := tctx(t)
	_, err := Open(ctx, Options{Host: srv.Host(), Port: srv.Port(), Password: "wrong"}, nil)
	if want := "redis " + srv.Addr() + ": wrong password"; err == nil || err.Error() != want {
		t.Fatalf("wrong password: err = %v, want %q", err, want)
	}
	_, err = Open(ctx, Options{Host: srv.Host(), Port: srv.Port()}, nil)
	if want := "redis " + srv.Addr() + ": the server wants a password and none was given"; err == nil || err.Error() != want {
		t.Fatalf("no password: err = %v, want %q", err, want)
	}
	b, err := Open(ctx, Options{Host: srv.Host(), Port: srv.Port(), Password: "s3cret"}, nil)
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	b.Close()
}

func TestOpenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	_, err = Open(tctx(t), Options{Host: "127.0.0.1", Port: port, DialTimeout: time.Second}, nil)
	want := fmt.Sprintf("redis 127.0.0.1:%d: cannot connect: connect: connection refused", port)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

// Open warns about server settings that may lose job state.
func TestServerWarnings(t *testing.T) {
	shared.Require(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"allkeys-lru", []string{"--maxmemory-policy", "allkeys-lru"}, "warning: redis %s has maxmemory-policy allkeys-lru, which may evict job state; set it to noeviction\n"},
		{"noeviction", []string{"--maxmemory-policy", "noeviction"}, ""},
		{"volatile-lru", []string{"--maxmemory-policy", "volatile-lru"}, ""}, // our keys have no TTL: never evicted
		{"no CONFIG", []string{"--maxmemory-policy", "allkeys-lru", "--rename-command", "CONFIG", "", "--appendonly", "no"}, ""},
		// Persistence: save points or the append-only file are enough.
		{"no persistence", []string{"--appendonly", "no"}, "warning: redis %s has no persistence (no save points, appendonly no): a restart loses all job state; set appendonly yes\n"},
		{"save points", []string{"--appendonly", "no", "--save", "3600 1"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t, tc.args...)
			var warn bytes.Buffer
			b, err := Open(tctx(t), Options{Host: srv.Host(), Port: srv.Port()}, &warn)
			if err != nil {
				t.Fatal(err)
			}
			b.Close()
			want := tc.want
			if want != "" {
				want = fmt.Sprintf(want, srv.Addr())
			}
			if warn.String() != want {
				t.Fatalf("warning = %q, want %q", warn.String(), want)
			}
		})
	}
}

// The db option is honoured (the original always used db 0).
func TestDB(t *testing.T) {
	shared.Require(t)
	spec := newSpec(t)
	spec3 := strings.Replace(spec, "/0?", "/3?", 1)
	b, err := openSpec(spec3)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Submit(tctx(t), []store.SubmitItem{item("a", "1", 1)}); err != nil {
		t.Fatal(err)
	}
	if ks := keys(t, spec, 3); len(ks) == 0 {
		t.Fatalf("no keys in db 3")
	}
	if ks := keys(t, spec, 0); len(ks) != 0 {
		t.Fatalf("keys in db 0: %v", ks)
	}
	_, err = Open(tctx(t), Options{Host: shared.Host(), Port: shared.Port(), DB: 99}, nil)
	if want := "redis " + shared.Addr() + ": db 99 is out of range"; err == nil || err.Error() != want {
		t.Fatalf("db 99: err = %v, want %q", err, want)
	}
}

func TestTLS(t *testing.T) {
	srv := redistest.StartConfig(t, redistest.Config{TLS: true, Password: "pw"})
	ctx := tctx(t)
	b, err := Open(ctx, Options{Host: srv.Host(), Port: srv.Port(), Password: "pw", TLS: true, TLSConfig: srv.TLSConfig(), KeyPrefix: "x:"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Submit(ctx, []store.SubmitItem{item("a", "1", 1)}); err != nil {
		t.Fatal(err)
	}
	if got := claimIDs(t, b, "a", 1); !reflect.DeepEqual(got, []string{"1"}) {
		t.Fatalf("claim = %v", got)
	}
	// Without TLS the server does not answer.
	if _, err := Open(ctx, Options{Host: srv.Host(), Port: srv.Port(), Password: "pw", DialTimeout: time.Second}, nil); err == nil {
		t.Fatal("plain connection to a TLS port: no error")
	}
}

// The server restarts between two operations (with the append-only file,
// as a production server runs): the backend reconnects by itself, reloads
// its scripts, and nothing is lost.
func TestServerRestart(t *testing.T) {
	srv := redistest.StartConfig(t, redistest.Config{Persist: true})
	ctx := tctx(t)
	b, err := Open(ctx, Options{Host: srv.Host(), Port: srv.Port(), KeyPrefix: "r:"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Submit(ctx, []store.SubmitItem{item("a", "1", 1), item("a", "2", 2), item("a", "3", 3)}); err != nil {
		t.Fatal(err)
	}
	res, err := b.Claim(ctx, store.ClaimRequest{App: "a", Owner: "w", N: 1, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	_, err = b.Count(ctx, "a")
	if want := "redis " + srv.Addr() + ": "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("count while the server is down: err = %v, want it to begin %q", err, want)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := b.Complete(ctx, res.Leases[0], "exit 0", nil); err != nil {
		t.Fatalf("complete after restart: %v", err)
	}
	if got := claimIDs(t, b, "a", 5); !reflect.DeepEqual(got, []string{"2", "3"}) {
		t.Fatalf("claim after restart = %v", got)
	}
	c, err := b.Count(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	c.HeadAge = 0 // TestConformance/CountHeadAge checks it
	want := store.Counts{States: map[store.State]int{store.Pending: 2, store.Completed: 1}, Queued: 2, Claimed: 2}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("count = %+v, want %+v", c, want)
	}
}

// Wait wakes up when another client queues work, and at a lease expiry.
func TestWait(t *testing.T) {
	b, spec := open(t)
	b2, err := openSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	ctx := tctx(t)
	done := make(chan error, 1)
	go func() { done <- b.Wait(ctx, "a", time.Now().Add(20*time.Second)) }()
	// The waiter may not have subscribed yet; either way it must wake.
	if _, err := b2.Submit(ctx, []store.SubmitItem{item("a", "1", 1)}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Wait did not return after a submit")
	}
	res, err := b.Claim(ctx, store.ClaimRequest{App: "a", Owner: "w", N: 1, Lease: 300 * time.Millisecond})
	if err != nil || len(res.Leases) != 1 {
		t.Fatalf("claim: %v %v", res, err)
	}
	if res.Next.IsZero() {
		t.Fatal("claim: no Next for a leased entry")
	}
	// Nothing claimable now: Wait returns at the lease expiry, well before until.
	if err := b.Wait(ctx, "a", time.Now().Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := claimIDs(t, b, "a", 1); !reflect.DeepEqual(got, []string{"1"}) {
		t.Fatalf("claim after expiry = %v", got)
	}
	// ctx ends the wait.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Wait(cctx, "a", time.Time{}); err != context.Canceled {
		t.Fatalf("wait with ended ctx = %v", err)
	}
}

// lostErr is the error of a backend whose data vanished.
func lostErr(addr, prefix string) string {
	return fmt.Sprintf("redis %s: job state lost: the keys under prefix %q vanished while this process ran (its installation marker is gone or new): the server restarted without persistence, or was flushed", addr, prefix)
}

// Data that vanishes under a running process (FLUSHALL, or a restart of a
// server without persistence) is an error that says so, on every call,
// never "nothing to do"; before the installation marker, the claim after
// a flush found no work and Renew said "lease lost".
func TestDataLost(t *testing.T) {
	shared.Require(t)
	for _, how := range []string{"flushall", "restart", "flush and a new installation"} {
		t.Run(how, func(t *testing.T) {
			srv := redistest.StartConfig(t, redistest.Config{Ephemeral: true})
			ctx := tctx(t)
			o := Options{Host: srv.Host(), Port: srv.Port(), KeyPrefix: "p:"}
			b, err := Open(ctx, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if _, err := b.Submit(ctx, []store.SubmitItem{item("a", "1", 1), item("a", "2", 1)}); err != nil {
				t.Fatal(err)
			}
			res, err := b.Claim(ctx, store.ClaimRequest{App: "a", Owner: "w", N: 1, Lease: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			switch how {
			case "restart":
				srv.Kill()
				if err := srv.Restart(); err != nil {
					t.Fatal(err)
				}
			default:
				c := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Protocol: 2, DisableIdentity: true})
				err := c.FlushAll(ctx).Err()
				c.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			if how == "flush and a new installation" {
				// A process that starts now cannot tell the loss from
				// a new installation, and makes a new marker.
				b2, err := Open(ctx, o, nil)
				if err != nil {
					t.Fatal(err)
				}
				b2.Close()
			}
			want := lostErr(srv.Addr(), "p:")
			_, err = b.Claim(ctx, store.ClaimRequest{App: "a", Owner: "w", N: 1, Lease: time.Minute})
			if err == nil || err.Error() != want || !errors.Is(err, store.ErrDataLost) {
				t.Fatalf("claim: err = %v, want %q", err, want)
			}
			if _, err := b.Renew(ctx, res.Leases[0], time.Minute); err == nil || err.Error() != want {
				t.Fatalf("renew: err = %v, want %q", err, want)
			}
			if err := b.Wait(ctx, "a", time.Now().Add(time.Minute)); err == nil || err.Error() != want {
				t.Fatalf("wait: err = %v, want %q", err, want)
			}
			if _, err := b.Count(ctx, "a"); err == nil || err.Error() != want {
				t.Fatalf("count: err = %v, want %q", err, want)
			}
		})
	}
}

// Job state without a marker (from a stolos before markers) gets one, with
// a warning; a fresh namespace gets one silently.
func TestInstallationMarker(t *testing.T) {
	spec := newSpec(t)
	u, _ := url.Parse(spec)
	p := u.Query().Get("prefix")
	ctx := tctx(t)
	c := goredis.NewClient(&goredis.Options{Addr: shared.Addr(), Protocol: 2, DisableIdentity: true})
	defer c.Close()
	if err := c.Set(ctx, p+"seq", "7", 0).Err(); err != nil {
		t.Fatal(err)
	}
	o := Options{Host: shared.Host(), Port: shared.Port(), KeyPrefix: p}
	for i, want := range []string{
		fmt.Sprintf("warning: redis %s: job state under prefix %q had no installation marker; made one\n", shared.Addr(), p),
		"",
	} {
		var warn bytes.Buffer
		b, err := Open(ctx, o, &warn)
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		if warn.String() != want {
			t.Errorf("open %d: warning %q, want %q", i+1, warn.String(), want)
		}
	}
}
