// Package backend opens the job-state backend chosen by the shared
// -queue-backend flags: local (SQLite, the default), zookeeper or redis.
// It is the one place that knows all three (Names); lib/sched opens a
// backend through it, and the graph tools do not import it.
package backend

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/local"
	"github.com/stolos-sched/stolos/lib/store/redis"
	"github.com/stolos-sched/stolos/lib/store/zookeeper"
)

// Names are the backends, in the order the documentation lists them; the
// first is the default. Tests and the bench harness that run on every
// backend read this list.
var Names = []string{"local", "zookeeper", "redis"}

// names words Names for a message: "local, zookeeper or redis".
func names() string {
	return strings.Join(Names[:len(Names)-1], ", ") + " or " + Names[len(Names)-1]
}

// Flags are the queue backend's flags, named after the original's.
type Flags struct {
	Backend   string
	LocalPath string
	ZKHosts   string
	ZKTimeout time.Duration
	ZKAuth    string
	Redis     cli.RedisFlags
	Keep      int // attempts kept in each job's history; zero: store.DefaultKeep
}

// Register adds the flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Backend, "queue-backend", Names[0], "where job state lives: "+names()+" (env STOLOS_QUEUE_BACKEND)")
	fs.StringVar(&f.LocalPath, "qb-local-path", "", "local: the SQLite `FILE` (env STOLOS_QB_LOCAL_PATH; default $XDG_STATE_HOME/stolos/stolos.db)")
	fs.StringVar(&f.ZKHosts, "qb-zookeeper-hosts", "", "zookeeper: `HOSTS` as host:port,...[/chroot] (env STOLOS_QB_ZOOKEEPER_HOSTS)")
	fs.DurationVar(&f.ZKTimeout, "qb-zookeeper-timeout", zookeeper.DefaultSessionTimeout, "zookeeper: session `TIMEOUT` (env STOLOS_QB_ZOOKEEPER_TIMEOUT)")
	fs.StringVar(&f.ZKAuth, "qb-zookeeper-auth", "", "zookeeper: digest `USER:PASSWORD`; nodes stolos creates are that user's only (env STOLOS_QB_ZOOKEEPER_AUTH)")
	f.Redis.Register(fs, "qb-redis-", "redis", redis.DefaultKeyPrefix)
	f.Keep = store.DefaultKeep
	fs.Var((*positive)(&f.Keep), "history-keep", "attempts of each job kept in its history, at least 1 (env STOLOS_HISTORY_KEEP)")
}

// positive is an int flag that must be at least 1.
type positive int

func (p *positive) String() string { return strconv.Itoa(int(*p)) }

func (p *positive) Set(s string) error {
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return errors.New("not a number")
	case n < 1:
		return errors.New("want at least 1")
	}
	*p = positive(n)
	return nil
}

// DefaultLocalPath is where the local backend keeps its file when
// -qb-local-path is not set: $XDG_STATE_HOME/stolos/stolos.db, else
// $HOME/.local/state/stolos/stolos.db.
func DefaultLocalPath() (string, error) {
	dir, err := cli.StateDir()
	if err != nil {
		return "", errors.New("no -qb-local-path, and no XDG_STATE_HOME or HOME to put the default under")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return filepath.Join(dir, "stolos.db"), nil
}

// Check validates the flags without connecting (a usage error if not).
func (f *Flags) Check() error {
	switch {
	case !slices.Contains(Names, f.Backend):
		return fmt.Errorf("unknown -queue-backend %q (want %s)", f.Backend, names())
	case f.Backend == "zookeeper" && f.ZKHosts == "":
		return errors.New("-queue-backend zookeeper needs -qb-zookeeper-hosts (STOLOS_QB_ZOOKEEPER_HOSTS)")
	}
	if f.Keep < 0 {
		return fmt.Errorf("-history-keep %d: want at least 1", f.Keep)
	}
	return nil
}

// Open connects to the backend, which checks every argument
// (store.Checked). warn receives warnings (Redis's eviction policy).
func (f *Flags) Open(ctx context.Context, warn io.Writer) (store.Backend, error) {
	b, err := f.open(ctx, warn)
	if err != nil {
		return nil, err
	}
	return store.Checked(b), nil
}

func (f *Flags) open(ctx context.Context, warn io.Writer) (store.Backend, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	switch f.Backend {
	case "zookeeper":
		return zookeeper.Open(ctx, zookeeper.Options{Hosts: f.ZKHosts, SessionTimeout: f.ZKTimeout, Auth: f.ZKAuth, Keep: f.Keep})
	case "redis":
		return redis.Open(ctx, redis.Options{Host: f.Redis.Host, Port: f.Redis.Port, DB: f.Redis.DB,
			Password: f.Redis.Password, TLS: f.Redis.TLS, KeyPrefix: f.Redis.KeyPrefix, Keep: f.Keep}, warn)
	}
	path := f.LocalPath
	if path == "" {
		var err error
		if path, err = DefaultLocalPath(); err != nil {
			return nil, fmt.Errorf("local backend: %v", err)
		}
	}
	return local.OpenWith(ctx, path, local.Options{Keep: f.Keep})
}
