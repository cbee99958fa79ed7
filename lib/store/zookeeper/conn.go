// Package zookeeper is the ZooKeeper backend of lib/store: job state and
// queues kept in a ZooKeeper ensemble shared by many machines.
//
// Every job is one znode whose data holds its state, queue entry, lease,
// attempts and outcome, so a job's existence is its state's existence
// (locks and counters never create it, unlike the original). Every
// transition reads the job nodes it depends on and commits one multi-op
// with a version check on each of them (or a create-and-delete that proves
// an absent one still absent), retrying on a conflict; so, for example, two
// parents completing at once cannot both miss their child.
//
// Leases are data in the job node (owner, token, end), not ephemeral nodes,
// so a session may expire and be replaced without losing anything. Lease
// times come from the local clock of each client (Unix milliseconds): the
// hosts sharing an ensemble must keep their clocks in sync (NTP), and a
// backend whose clock is off from the server's by more than a sixteenth of
// a lease refuses to take or renew leases (clock.go).
//
// See layout.go for the tree: no znode ever gets more than a few thousand
// children, whatever the number of jobs and queue entries. A claim costs
// four round trips (list the priorities, list the head chunk, read the
// jobs, commit) whatever the length of the queue, plus one listing per
// further chunk when the head of the queue is all claimed.
//
// A worker's step from one job to the next (CompleteClaim) is one commit
// too: the job, its children's jobs and the next candidate are read
// together. The jobs this backend holds leases on are kept as it last wrote
// them, with their versions, so completing, failing, renewing or releasing
// a lease reads nothing first: a job changed meanwhile by anyone else fails
// the commit's version check and is read afresh. A backend that lost a
// claim race starts its claims of the next second at a random one of the
// first entries of the top priority, so that workers in step stop going
// for the same entry. The priorities are listed from a cache under a watch
// (afresh when that finds nothing), and bubble-down takes children for
// absent without reading them on a first attempt (see assumeAbsent).
//
// Limits: a Submit call is atomic per batch of submitBatch jobs (callers
// batch smaller anyway); any other transition must fit in one multi-op
// (ZooKeeper's 1 MB request limit: thousands of jobs) or fails with a clear
// error, changing nothing. List reads every job node of the app; Count
// reads the app's count shards and lease nodes (counts.go).
//
// Connection loss: every request is retried (for up to retryFor) while the
// client reconnects, to the same session or, once it expired, a new one.
// A multi-op is never applied twice (its version checks fail the second
// time), and one whose answer was lost is recognized after reconnecting by
// the random transaction id it writes into every job it changes, so it is
// reported as done rather than retried.
package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/stolos-sched/stolos/lib/store"
)

// Options say how to reach the ensemble.
type Options struct {
	// Hosts is host:port,...[/chroot]; a host without a port uses 2181.
	Hosts string
	// SessionTimeout is the ZooKeeper session timeout; zero means 5s. It also
	// bounds how long Open waits for a first connection.
	SessionTimeout time.Duration
	// Auth is "user:password" for digest authentication, optional. With it,
	// every node stolos creates is readable and writable by that user only.
	Auth string
	// Keep is how many attempts of each job the history keeps; zero
	// means store.DefaultKeep.
	Keep int
}

// DefaultSessionTimeout is the session timeout when Options leave it zero.
const DefaultSessionTimeout = 5 * time.Second

// retryFor bounds how long an operation keeps retrying while the ensemble
// cannot be reached (its context may end it sooner).
const retryFor = time.Minute

// Backend is a store.Backend on a ZooKeeper ensemble.
type Backend struct {
	conn  *zk.Conn
	hosts string // as given, for errors
	keep  int    // attempts kept per job
	p     paths
	acl   []zk.ACL

	mu       sync.Mutex
	known    map[string]bool      // nodes known to exist (structure only)
	lists    map[string]*listing  // cached children of upper queue nodes
	leases   leaseCache           // jobs held under this backend's leases
	blocks   map[string]*posBlock // per app: the queue positions being used
	lostRace time.Time            // when a claim of this backend last lost a race
	present  map[string]time.Time // per app: when a job taken for absent was there
	counted  map[string]bool      // per app: its counts are kept (counts.go)
	shards   map[string]shard     // per app: this backend's shard of its counts
	parents  store.ParentMemo     // children's parents (fanin.go)
	slots    slotCache            // limits' slots this backend knows (limits.go)
	// clock is the time leases are measured by: time.Now; tests change it
	// to put a host's clock off (test-only).
	clock  func() time.Time
	skew   time.Duration // this host's clock less the server's, at least (clock.go)
	skewAt time.Time     // when skew was measured; zero: never
	// largest is the size of the largest multi-op this backend sent
	// (multiSize), for the benchmarks.
	largest atomic.Int64
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

// parseHosts splits host:port,...[/chroot] into servers and chroot.
func parseHosts(s string) (servers []string, chroot string, err error) {
	bad := func(why string) error { return fmt.Errorf("zookeeper hosts %q: %s", s, why) }
	hostPart := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		hostPart, chroot = s[:i], s[i:]
	}
	if chroot == "/" {
		chroot = ""
	}
	if chroot != "" {
		for _, c := range strings.Split(chroot[1:], "/") {
			if c == "" || c == "." || c == ".." || c == "zookeeper" && chroot == "/zookeeper" {
				return nil, "", bad(fmt.Sprintf("bad chroot %q", chroot))
			}
			for _, r := range c {
				if r < 0x20 || r == 0x7f {
					return nil, "", bad(fmt.Sprintf("bad chroot %q", chroot))
				}
			}
		}
	}
	if strings.TrimSpace(hostPart) == "" {
		return nil, "", bad("no host")
	}
	for _, h := range strings.Split(hostPart, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, "", bad("empty host")
		}
		host, port := h, "2181"
		if strings.Contains(h, ":") {
			var err error
			if host, port, err = net.SplitHostPort(h); err != nil {
				return nil, "", bad(fmt.Sprintf("bad host %q", h))
			}
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, "", bad(fmt.Sprintf("bad port %q in %q", port, h))
		}
		if host == "" {
			return nil, "", bad(fmt.Sprintf("no host name in %q", h))
		}
		servers = append(servers, net.JoinHostPort(host, port))
	}
	return servers, chroot, nil
}

// Open connects to the ensemble, authenticates, and creates the chroot and
// the top of the tree if they are missing. It fails quickly, naming the
// hosts, when no server can be reached.
func Open(ctx context.Context, o Options) (*Backend, error) {
	servers, chroot, err := parseHosts(o.Hosts)
	if err != nil {
		return nil, err
	}
	if o.Keep, err = store.Keep(o.Keep); err != nil {
		return nil, fmt.Errorf("zookeeper: %v", err)
	}
	user, pass, err := parseAuth(o.Auth)
	if err != nil {
		return nil, err
	}
	timeout := o.SessionTimeout
	if timeout <= 0 {
		timeout = DefaultSessionTimeout
	}
	conn, err := connect(ctx, servers, o.Hosts, timeout)
	if err != nil {
		return nil, err
	}
	b := newBackend(conn, o.Hosts, chroot, o.Keep)
	if err := b.setUp(ctx, o.Auth, user, pass); err != nil {
		conn.Close()
		return nil, err
	}
	return b, nil
}

// parseAuth splits -qb-zookeeper-auth's "user:password" ("": none).
func parseAuth(auth string) (user, pass string, err error) {
	if auth == "" {
		return "", "", nil
	}
	user, pass, ok := strings.Cut(auth, ":")
	if !ok || user == "" {
		return "", "", errors.New(`zookeeper auth: want "user:password"`)
	}
	return user, pass, nil
}

// connect opens a session with one of servers. It counts failed dials:
// once every server has refused, it gives up at once rather than wait out
// the session timeout.
func connect(ctx context.Context, servers []string, hosts string, timeout time.Duration) (*zk.Conn, error) {
	var failures atomic.Int32
	var lastErr atomic.Value
	dialer := func(network, addr string, t time.Duration) (net.Conn, error) {
		c, err := net.DialTimeout(network, addr, t)
		if err != nil {
			lastErr.Store(err.Error())
			failures.Add(1)
		}
		return c, err
	}
	connected := make(chan struct{}, 1)
	onEvent := func(ev zk.Event) {
		if ev.Type == zk.EventSession && ev.State == zk.StateHasSession {
			select {
			case connected <- struct{}{}:
			default:
			}
		}
	}
	conn, _, err := zk.Connect(servers, timeout,
		zk.WithLogger(nopLogger{}), zk.WithLogInfo(false),
		zk.WithDialer(dialer), zk.WithEventCallback(onEvent))
	if err != nil {
		return nil, fmt.Errorf("zookeeper %s: %v", hosts, err)
	}
	fail := func(why string) (*zk.Conn, error) {
		conn.Close()
		return nil, fmt.Errorf("zookeeper %s: cannot connect: %s", strings.Join(servers, ","), why)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-connected:
			return conn, nil
		case <-ctx.Done():
			return fail(ctx.Err().Error())
		case <-deadline.C:
			why := "no session after " + timeout.String()
			if e, ok := lastErr.Load().(string); ok {
				why += " (" + e + ")"
			}
			return fail(why)
		case <-tick.C:
			if int(failures.Load()) >= len(servers) {
				e, _ := lastErr.Load().(string)
				return fail(e)
			}
		}
	}
}

// newBackend is a Backend on an open session, under chroot, keeping keep
// attempts of each job.
func newBackend(conn *zk.Conn, hosts, chroot string, keep int) *Backend {
	return &Backend{
		conn:    conn,
		hosts:   hosts,
		keep:    keep,
		p:       paths{root: chroot},
		acl:     zk.WorldACL(zk.PermAll),
		known:   map[string]bool{},
		lists:   map[string]*listing{},
		leases:  leaseCache{},
		blocks:  map[string]*posBlock{},
		present: map[string]time.Time{},
		counted: map[string]bool{},
		shards:  map[string]shard{},
		slots:   slotCache{held: map[store.Ref]heldSlots{}, free: map[string][]slot{}},
		clock:   time.Now,
	}
}

// setUp authenticates the session (auth, split into user and pass: the
// nodes stolos creates are then that user's only), creates the top of the
// tree if it is missing, and proves that it can read there.
func (b *Backend) setUp(ctx context.Context, auth, user, pass string) error {
	if auth != "" {
		if err := b.conn.AddAuth("digest", []byte(auth)); err != nil {
			return fmt.Errorf("zookeeper %s: auth: %v", b.hosts, err)
		}
		b.acl = zk.DigestACL(zk.PermAll, user, pass)
	}
	if err := b.ensure(ctx, b.p.apps()); err != nil {
		return err
	}
	// Creating needs the parent's create right only; prove we can read too.
	if err := b.retry(ctx, func() error { _, _, err := b.conn.Get(b.p.apps()); return err }); err != nil {
		return b.wrap(b.p.apps(), err)
	}
	return nil
}

// Close closes the session.
func (b *Backend) Close() error {
	b.conn.Close()
	return nil
}

// transient reports errors after which a request may succeed once the
// client has reconnected (or opened a new session): the client's own, and
// the network's, which go-zookeeper hands a request whose write failed
// (the connection is then closed and the client reconnects, to another
// server of the ensemble if need be). Whether the request was applied is
// unknown after either, as call says.
func transient(err error) bool {
	var op *net.OpError
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) ||
		errors.Is(err, zk.ErrSessionExpired) || errors.Is(err, zk.ErrSessionMoved) ||
		errors.As(err, &op)
}

// wrap names the node and the hosts in an error.
func (b *Backend) wrap(path string, err error) error {
	if errors.Is(err, zk.ErrNoAuth) {
		return fmt.Errorf("zookeeper %s: %s: not authorized (wrong or missing auth)", b.hosts, path)
	}
	return fmt.Errorf("zookeeper %s: %s: %w", b.hosts, path, err)
}

// retry runs f until it returns something other than a transient error,
// backing off, for at most retryFor or until ctx ends; each try returns
// when ctx ends (call).
func (b *Backend) retry(ctx context.Context, f func() error) error {
	start := time.Now()
	wait := 5 * time.Millisecond
	for {
		err := call(ctx, f)
		if !transient(err) {
			return err
		}
		if time.Since(start) > retryFor {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// call runs f, ZooKeeper requests, and returns its error, or ctx's as soon
// as ctx ends: go-zookeeper's requests take no context, and wait for their
// answer as long as the session seems alive (through a partition that
// leaves the connection open, or a paused server, until the client's own
// timeouts). f then runs on, and its results, which it must write only to
// variables that the caller does not read after an error, are dropped.
// Whether its writes were applied is unknown, as after a lost connection:
// the versions that the backend caches make the next write of a changed
// node fail, and read it again.
func call(ctx context.Context, f func() error) error {
	if ctx.Done() == nil {
		return f()
	}
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer from ZooKeeper: %w", ctx.Err())
	}
}

// ensure creates a structural node and its missing ancestors under the
// chroot (the chroot's own ancestors too). The chroot's ancestors are
// shared namespace, like directories above a home: they get the open ACL,
// so that one user's digest ACL never locks others out of their siblings;
// the chroot and everything below get the backend's ACL.
func (b *Backend) ensure(ctx context.Context, node string) error {
	b.mu.Lock()
	ok := b.known[node]
	b.mu.Unlock()
	if ok {
		return nil
	}
	acl := b.acl
	if len(node) < len(b.p.root) {
		acl = zk.WorldACL(zk.PermAll)
	}
	// A parent may be missing, or removed meanwhile by a Claim that found
	// it empty: create it and try again.
	var err error
	for range 20 {
		err = b.retry(ctx, func() error { _, err := b.conn.Create(node, nil, 0, acl); return err })
		if !errors.Is(err, zk.ErrNoNode) {
			break
		}
		parent := path.Dir(node)
		if parent == "/" {
			break
		}
		b.mu.Lock()
		delete(b.known, parent)
		b.mu.Unlock()
		if err := b.ensure(ctx, parent); err != nil {
			return err
		}
	}
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return b.wrap(node, err)
	}
	b.mu.Lock()
	b.known[node] = true
	b.mu.Unlock()
	return nil
}

// forget drops what ensure knew (after a node it knew was removed).
func (b *Backend) forget() {
	b.mu.Lock()
	clear(b.known)
	b.mu.Unlock()
}

// ensureApp creates an app's fixed nodes.
func (b *Backend) ensureApp(ctx context.Context, app string) error {
	jobs := b.p.jobs(app)
	b.mu.Lock()
	first := !b.known[jobs]
	b.mu.Unlock()
	for _, p := range []string{b.p.notify(app), b.p.seq(app), jobs, b.p.queue(app)} {
		if err := b.ensure(ctx, p); err != nil {
			return err
		}
	}
	if first {
		if err := b.ensureBuckets(ctx, app); err != nil {
			return err
		}
		return b.learnCounted(ctx, app)
	}
	return nil
}

// ensureFanin creates the buckets of an app's fan-in records.
func (b *Backend) ensureFanin(ctx context.Context, app string) error {
	dir := b.p.fanins(app)
	b.mu.Lock()
	ok := b.known[dir]
	b.mu.Unlock()
	if ok {
		return nil
	}
	if err := b.ensure(ctx, dir); err != nil {
		return err
	}
	return b.ensureBuckets(ctx, dir)
}

// ensureBuckets learns which job buckets of an app exist with one listing,
// and creates them all in one multi-op when there are none yet, rather
// than one create per bucket the first time this process writes a job
// there. The same multi-op creates the app's counts node: an app with no
// jobs yet is one whose counts can be kept from the start. A multi-op that
// fails (another process created some meanwhile) leaves ensure to create
// the missing buckets one by one.
func (b *Backend) ensureBuckets(ctx context.Context, app string) error {
	jobs := b.p.jobs(app)
	buckets, err := b.children(ctx, jobs)
	if err != nil {
		return err
	}
	if len(buckets) == 0 {
		ops := make([]any, jobBuckets, jobBuckets+1)
		for i := range ops {
			ops[i] = &zk.CreateRequest{Path: jobs + "/" + bucketName(i), Acl: b.acl}
		}
		ops = append(ops, &zk.CreateRequest{Path: b.p.counts(app), Acl: b.acl})
		err := b.retry(ctx, func() error { _, err := b.conn.Multi(ops...); return err })
		if err == nil {
			for i := range jobBuckets {
				buckets = append(buckets, bucketName(i))
			}
		}
	}
	b.mu.Lock()
	for _, bk := range buckets {
		b.known[jobs+"/"+bk] = true
	}
	b.mu.Unlock()
	return nil
}

// children lists a node's children, sorted; a missing node has none.
func (b *Backend) children(ctx context.Context, path string) ([]string, error) {
	names, err := b.childrenIf(ctx, path)
	slices.Sort(names)
	return names, err
}

// childrenIf lists a node's children: nil if the node is absent, an empty
// list if it has none.
func (b *Backend) childrenIf(ctx context.Context, path string) ([]string, error) {
	var names []string
	err := b.retry(ctx, func() error {
		var err error
		names, _, err = b.conn.Children(path)
		return err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, b.wrap(path, err)
	}
	if names == nil {
		names = []string{}
	}
	return names, nil
}

// getData reads a node's data and stat, retrying transient errors; the
// error is not wrapped, so that callers can tell zk.ErrNoNode.
func (b *Backend) getData(ctx context.Context, path string) ([]byte, *zk.Stat, error) {
	var data []byte
	var st *zk.Stat
	err := b.retry(ctx, func() error {
		var err error
		data, st, err = b.conn.Get(path)
		return err
	})
	return data, st, err
}

// listing is a cached list of children, good until its watch fires.
type listing struct {
	names []string
	watch <-chan zk.Event
}

// cachedChildren is children for nodes whose children rarely change (the
// upper levels of a queue): the list is kept with a child watch and read
// again only once the watch has fired. A watch event reaches the client
// before the answer to any request it sends after the change, so a cached
// list read after a fresh request of the same operation is never older
// than that request.
func (b *Backend) cachedChildren(ctx context.Context, path string) ([]string, error) {
	b.mu.Lock()
	l := b.lists[path]
	b.mu.Unlock()
	if l != nil {
		select {
		case <-l.watch:
		default:
			return l.names, nil
		}
	}
	var names []string
	var watch <-chan zk.Event
	err := b.retry(ctx, func() error {
		var err error
		names, _, watch, err = b.conn.ChildrenW(path)
		return err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, b.wrap(path, err)
	}
	slices.Sort(names)
	b.mu.Lock()
	b.lists[path] = &listing{names: names, watch: watch}
	b.mu.Unlock()
	return names, nil
}

// parallel runs f(0..n-1) on a few goroutines (the client pipelines their
// requests on one connection) and returns the first error.
func parallel(n int, f func(i int) error) error {
	const workers = 32
	if n <= 1 {
		if n == 1 {
			return f(0)
		}
		return nil
	}
	var next atomic.Int64
	errs := make([]error, min(n, workers))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// now is the time leases are measured by: the local clock, in Unix
// milliseconds (see the package doc).
func (b *Backend) now() int64 { return b.clock().UnixMilli() }
