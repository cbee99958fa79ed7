package zookeeper

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stolos-sched/stolos/lib/store"
)

// proxy forwards a local port to a server until cut, and again once
// restored (on the same port).
type proxy struct {
	addr, target string
	mu           sync.Mutex
	l            net.Listener
	conns        []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target}
	if err := p.listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) listen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.l, p.addr = l, l.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	return nil
}

// cut closes the listener and every connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestSessionExpiry: the connection is cut until the server has expired
// the session; the backend gets a new session and goes on working.
func TestSessionExpiry(t *testing.T) {
	srv := server(t)
	p := newProxy(t, srv.Hosts())
	spec := newSpec(t)
	chroot := spec[strings.IndexByte(spec, '/'):]
	b, err := Open(ctxT(t), Options{Hosts: p.addr + chroot, SessionTimeout: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := ctxT(t)
	a1 := store.Ref{App: "a", JobID: "1"}
	if _, err := b.Submit(ctx, []store.SubmitItem{{Node: store.Node{Ref: a1}, Priority: 1}}); err != nil {
		t.Fatal(err)
	}
	// An ephemeral node makes the session visible in "dump" until it expires.
	old := b.conn.SessionID()
	if _, err := b.conn.Create(chroot+"/marker", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("0x%x", old)
	dump := func() string {
		out, err := srv.FourLetter("dump", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if !strings.Contains(dump(), id) {
		t.Fatalf("session %s not in dump:\n%s", id, dump())
	}
	p.cut()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Contains(dump(), id) {
		if time.Now().After(deadline) {
			t.Fatalf("session %s never expired", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.listen(p.addr); err != nil {
		t.Fatal(err)
	}
	res, err := b.Claim(ctx, store.ClaimRequest{App: "a", Owner: "w", N: 1, Lease: time.Minute})
	if err != nil || len(res.Leases) != 1 {
		t.Fatalf("claim after expiry: %+v, %v", res, err)
	}
	if err := b.Complete(ctx, res.Leases[0], "exit 0", nil); err != nil {
		t.Fatal(err)
	}
	if now := b.conn.SessionID(); now == old || now == 0 {
		t.Fatalf("session %x after expiry, want a new one (was %x)", now, old)
	}
	jobs, err := b.Get(ctx, []store.Ref{a1})
	if err != nil || jobs[0].State != store.Completed {
		t.Fatalf("after expiry: %+v, %v", jobs, err)
	}
}
