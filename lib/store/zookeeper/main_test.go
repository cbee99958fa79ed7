package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/storetest"
	"github.com/stolos-sched/stolos/lib/store/zookeeper/zktest"
)

// shared is the server of this test binary, started by TestMain; sharedErr
// is why there is none.
var (
	shared    *zktest.Server
	sharedErr error
)

// chroots numbers the chroots handed out in this process.
var chroots atomic.Int64

// testSession is the session timeout of test backends.
const testSession = 2 * time.Second

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	storetest.MaybeChild(harness)
	srv, stop, err := zktest.StartMain()
	if err != nil && !errors.Is(err, zktest.ErrMissing) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	shared, sharedErr = srv, err
	return m.Run()
}

// server returns the shared server, or skips or fails t without one.
func server(t testing.TB) *zktest.Server {
	t.Helper()
	return zktest.Require(t, shared, sharedErr)
}

// newSpec returns a spec for a fresh chroot on the shared server:
// host:port/chroot. Each chroot is a top-level node of its own, since a
// test with digest auth makes its chroot unwritable to others.
func newSpec(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("%s/stolos-test-p%d-t%d", server(t).Hosts(), os.Getpid(), chroots.Add(1))
}

// openSpec opens a backend on a spec made by newSpec.
func openSpec(spec string) (store.Backend, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return Open(ctx, Options{Hosts: spec, SessionTimeout: testSession})
}

// open opens a backend on a fresh chroot, closed at the end of the test.
func open(t testing.TB) (*Backend, string) {
	t.Helper()
	spec := newSpec(t)
	b, err := openSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.(*Backend), spec
}

// openWorkers opens n more backends on spec, each with its own connection,
// closed at the end of the test.
func openWorkers(t testing.TB, spec string, n int) []*Backend {
	t.Helper()
	var ws []*Backend
	for range n {
		w, err := openSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		ws = append(ws, w.(*Backend))
	}
	return ws
}
