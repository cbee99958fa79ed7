// Package backendtest opens a fresh backend of each kind for a test or a
// benchmark: local on a temporary file, Redis and ZooKeeper on real servers
// started for it (lib/store/redis/redistest, lib/store/zookeeper/zktest:
// a missing server skips, or fails under STOLOS_TEST_REQUIRE_SERVERS=1).
// Each backend is closed, and its server stopped, when the test ends.
package backendtest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/local"
	"github.com/stolos-sched/stolos/lib/store/redis"
	"github.com/stolos-sched/stolos/lib/store/redis/redistest"
	"github.com/stolos-sched/stolos/lib/store/zookeeper"
	"github.com/stolos-sched/stolos/lib/store/zookeeper/zktest"
)

// Opener opens a fresh backend of one kind.
type Opener struct {
	Name string // local, redis or zookeeper
	Open func(tb testing.TB) store.Backend
}

// Local, Redis and ZooKeeper open a fresh backend of their kind.
var (
	Local     = Opener{"local", openLocal}
	Redis     = Opener{"redis", openRedis}
	ZooKeeper = Opener{"zookeeper", openZooKeeper}
)

// All lists the three kinds, in the order of backend.Names.
var All = []Opener{Local, ZooKeeper, Redis}

func openLocal(tb testing.TB) store.Backend {
	be, err := local.Open(context.Background(), filepath.Join(tb.TempDir(), "stolos.db"))
	return opened(tb, be, err)
}

func openRedis(tb testing.TB) store.Backend {
	srv := redistest.Start(tb)
	be, err := redis.Open(context.Background(), redis.Options{Host: srv.Host(), Port: srv.Port()}, nil)
	return opened(tb, be, err)
}

func openZooKeeper(tb testing.TB) store.Backend {
	srv := zktest.Start(tb)
	be, err := zookeeper.Open(context.Background(), zookeeper.Options{Hosts: srv.Hosts(), SessionTimeout: 10 * time.Second})
	return opened(tb, be, err)
}

// opened fails tb on err, and closes be when tb ends.
func opened(tb testing.TB, be store.Backend, err error) store.Backend {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { be.Close() })
	return be
}
