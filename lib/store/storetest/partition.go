package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// partitionDeadline is the deadline of each call made while the proxy is
// cut; partitionHang is how long past it a call counts as blocked: less
// than the 3 s read timeout go-redis falls back on, and far longer than a
// slow return.
const (
	partitionDeadline = 300 * time.Millisecond
	partitionHang     = 2 * time.Second
)

// Partitioned checks that no call blocks past the deadline it was given
// when the server stops answering without closing the connection (a
// partition, or a paused server): open opens a backend on a fresh
// namespace of the server at addr (host:port), which the test reaches
// through a Proxy that it cuts. Renew (the call a worker's lease depends
// on) and a claim must return, with an error, once their context's
// deadline passes. (A backend whose calls return when the deadline passes
// lets stolos-exec go on with its next step; its renewals do not wait on
// them.) Get is left out: the local backend reads without waiting.
func Partitioned(t *testing.T, addr string, open func(addr string) (store.Backend, error)) {
	t.Helper()
	p, err := StartProxy(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	b, err := open(p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	Stalled(t, b, p.Cut, p.Heal)
}

// Stalled checks that no call of b blocks past the deadline it was given
// between stall and heal, which make b's server or database stop
// answering (Partitioned; for the local backend, another process that
// holds the database's write lock and is paused).
func Stalled(t *testing.T, b store.Backend, stall, heal func()) {
	t.Helper()
	submit(t, b, item("a", "1", 0), item("a", "2", 0))
	l := claimOne(t, b, "a", time.Minute)
	stall()
	defer heal()
	for _, c := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Renew", func(ctx context.Context) error { _, err := b.Renew(ctx, l, time.Minute); return err }},
		{"Claim", func(ctx context.Context) error {
			_, err := b.Claim(ctx, claimReq("a", "other", 1, time.Minute))
			return err
		}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), partitionDeadline)
		done := make(chan error, 1)
		go func() { done <- c.call(ctx) }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s while stalled: no error", c.name)
			}
		case <-time.After(partitionDeadline + partitionHang):
			t.Errorf("%s while stalled: still blocked %v past its deadline", c.name, partitionHang)
		}
		cancel()
	}
}
