package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/zookeeper/zktest"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestParseHosts(t *testing.T) {
	good := []struct {
		in      string
		servers []string
		chroot  string
	}{
		{"127.0.0.1:2181", []string{"127.0.0.1:2181"}, ""},
		{"a:1,b:2/x/y", []string{"a:1", "b:2"}, "/x/y"},
		{"zk1,zk2:2182/", []string{"zk1:2181", "zk2:2182"}, ""},
		{"[::1]:2181/stolos", []string{"[::1]:2181"}, "/stolos"},
	}
	for _, c := range good {
		servers, chroot, err := parseHosts(c.in)
		if err != nil || !slices.Equal(servers, c.servers) || chroot != c.chroot {
			t.Errorf("parseHosts(%q) = %q, %q, %v, want %q, %q", c.in, servers, chroot, err, c.servers, c.chroot)
		}
	}
	bad := map[string]string{
		"":              `zookeeper hosts "": no host`,
		"/chroot":       `zookeeper hosts "/chroot": no host`,
		"a:1,,b:2":      `zookeeper hosts "a:1,,b:2": empty host`,
		"a:x":           `zookeeper hosts "a:x": bad port "x" in "a:x"`,
		"a:0":           `zookeeper hosts "a:0": bad port "0" in "a:0"`,
		"a:70000":       `zookeeper hosts "a:70000": bad port "70000" in "a:70000"`,
		":2181":         `zookeeper hosts ":2181": no host name in ":2181"`,
		"a:1:2":         `zookeeper hosts "a:1:2": bad host "a:1:2"`,
		"a:1/x//y":      `zookeeper hosts "a:1/x//y": bad chroot "/x//y"`,
		"a:1/x/":        `zookeeper hosts "a:1/x/": bad chroot "/x/"`,
		"a:1/x/../y":    `zookeeper hosts "a:1/x/../y": bad chroot "/x/../y"`,
		"a:1/zookeeper": `zookeeper hosts "a:1/zookeeper": bad chroot "/zookeeper"`,
	}
	for in, want := range bad {
		_, _, err := parseHosts(in)
		if err == nil || err.Error() != want {
			t.Errorf("parseHosts(%q): %v, want %s", in, err, want)
		}
		if _, err := Open(ctxT(t), Options{Hosts: in}); err == nil || err.Error() != want {
			t.Errorf("Open(%q): %v, want %s", in, err, want)
		}
	}
}

// TestUnreachable: with nothing listening, Open fails at once with the
// dial error (not after the session timeout), naming the hosts.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	hosts := addr + "," + addr
	_, err = Open(ctxT(t), Options{Hosts: hosts + "/x", SessionTimeout: time.Hour})
	want := fmt.Sprintf("zookeeper %s: cannot connect: dial tcp %s: connect: connection refused", hosts, addr)
	if err == nil || err.Error() != want {
		t.Fatalf("open unreachable: %v, want %s", err, want)
	}
}

// TestAuth: with digest auth every node stolos creates carries that user's
// ACL; a client without the password can neither read nor write, and a
// backend with a wrong password gets a clear error.
func TestAuth(t *testing.T) {
	spec := newSpec(t)
	b, err := Open(ctxT(t), Options{Hosts: spec, SessionTimeout: testSession, Auth: "stolos:s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Submit(ctxT(t), []store.SubmitItem{{Node: store.Node{Ref: store.Ref{App: "a", JobID: "1"}}, Priority: 1}}); err != nil {
		t.Fatal(err)
	}

	conn := rawConn(t, server(t).Hosts())
	if err := conn.AddAuth("digest", []byte("stolos:s3cret")); err != nil {
		t.Fatal(err)
	}
	_, chroot, _ := parseHosts(spec)
	var nodes []string
	walk(t, conn, chroot, func(p string, _ int) { nodes = append(nodes, p) })
	if len(nodes) < 8 {
		t.Fatalf("walk found only %v", nodes)
	}
	want := zk.DigestACL(zk.PermAll, "stolos", "s3cret")
	for _, p := range nodes {
		acl, _, err := conn.GetACL(p)
		if err != nil || !slices.Equal(acl, want) {
			t.Fatalf("acl of %s: %v, %v, want %v", p, acl, err, want)
		}
	}
	job := b.p.job(store.Ref{App: "a", JobID: "1"})
	conn = rawConn(t, server(t).Hosts())
	if _, _, err := conn.Get(job); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("read without auth: %v, want %v", err, zk.ErrNoAuth)
	}
	if _, err := conn.Set(job, []byte("x"), -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("write without auth: %v, want %v", err, zk.ErrNoAuth)
	}

	for _, auth := range []string{"stolos:wrong", ""} {
		_, err = Open(ctxT(t), Options{Hosts: spec, SessionTimeout: testSession, Auth: auth})
		wantErr := fmt.Sprintf("zookeeper %s: %s/apps: not authorized (wrong or missing auth)", spec, chroot)
		if err == nil || err.Error() != wantErr {
			t.Fatalf("open with auth %q: %v, want %s", auth, err, wantErr)
		}
	}
	if _, err := Open(ctxT(t), Options{Hosts: spec, Auth: "nocolon"}); err == nil || err.Error() != `zookeeper auth: want "user:password"` {
		t.Fatalf("open with bad auth: %v", err)
	}
}

func rawConn(t testing.TB, hosts string) *zk.Conn {
	t.Helper()
	servers, _, err := parseHosts(hosts)
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := zk.Connect(servers, testSession, zk.WithLogger(nopLogger{}), zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// walk calls fn for every node under root (root included) with its number
// of children.
func walk(t testing.TB, conn *zk.Conn, root string, fn func(path string, children int)) {
	t.Helper()
	names, _, err := conn.Children(root)
	if err != nil {
		t.Fatalf("children of %s: %v", root, err)
	}
	fn(root, len(names))
	for _, n := range names {
		walk(t, conn, root+"/"+n, fn)
	}
}

// TestTreeBound: a real run with many jobs and queue entries, some claimed,
// delayed and completed, leaves no node over the bound and no stray node.
func TestTreeBound(t *testing.T) {
	b, spec := open(t)
	const n = 5000
	var items []store.SubmitItem
	for i := range n {
		items = append(items, store.SubmitItem{Node: store.Node{Ref: store.Ref{App: "a/b", JobID: "job/" + strconv.Itoa(i)}}, Priority: i % 3})
	}
	if _, err := b.Submit(ctxT(t), items); err != nil {
		t.Fatal(err)
	}
	res, err := b.Claim(ctxT(t), store.ClaimRequest{App: "a/b", Owner: "w", N: 300, Lease: time.Minute})
	if err != nil || len(res.Leases) != 300 {
		t.Fatalf("claim: %d, %v", len(res.Leases), err)
	}
	for i, l := range res.Leases {
		if i%2 == 0 {
			err = b.Complete(ctxT(t), l, "exit 0", nil)
		} else {
			_, err = b.Fail(ctxT(t), l, "exit 1", 5, time.Hour)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	_, chroot, _ := parseHosts(spec)
	conn := rawConn(t, server(t).Hosts())
	jobs, entries, most := 0, 0, 0
	walk(t, conn, chroot, func(p string, kids int) {
		most = max(most, kids)
		switch {
		case strings.HasPrefix(p, b.p.jobs("a/b")+"/") && strings.Count(p, "/") == strings.Count(b.p.jobs("a/b"), "/")+2:
			jobs++
		case strings.HasPrefix(p, b.p.queue("a/b")+"/") && strings.Count(p, "/") == strings.Count(b.p.queue("a/b"), "/")+5:
			entries++
		}
	})
	if jobs != n || entries != n-150 {
		t.Fatalf("%d job nodes, %d queue entries, want %d and %d", jobs, entries, n, n-150)
	}
	if most > jobBuckets {
		t.Fatalf("a node has %d children", most)
	}
	c, err := b.Count(ctxT(t), "a/b")
	c.HeadAge = 0 // TestConformance/CountHeadAge checks it
	want := store.Counts{States: map[store.State]int{store.Pending: n - 150, store.Completed: 150}, Queued: n - 150}
	if err != nil || fmt.Sprint(c) != fmt.Sprint(want) {
		t.Fatalf("count: %v, %v, want %v", c, err, want)
	}
}

// TestPositionsByBlock: entries queued one transaction at a time by one
// backend (as bubble-down queues children) take consecutive positions,
// filling 256-entry chunk nodes, rather than a new block and chunk each
// (which cost a write of the seq node and a create per job); they come out
// in the order queued.
func TestPositionsByBlock(t *testing.T) {
	b, spec := open(t)
	const n = 300
	for i := range n {
		id := fmt.Sprintf("%03d", i)
		if _, err := b.Submit(ctxT(t), []store.SubmitItem{{Node: store.Node{Ref: store.Ref{App: "a", JobID: id}}, Priority: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	_, chroot, _ := parseHosts(spec)
	conn := rawConn(t, server(t).Hosts())
	chunks := 0
	depth := strings.Count(b.p.queue("a"), "/") + 4
	walk(t, conn, chroot, func(p string, kids int) {
		if strings.HasPrefix(p, b.p.queue("a")+"/") && strings.Count(p, "/") == depth {
			chunks++
		}
	})
	if chunks > 2 {
		t.Fatalf("%d queued entries in %d chunk nodes, want at most 2", n, chunks)
	}
	res, err := b.Claim(ctxT(t), store.ClaimRequest{App: "a", Owner: "w", N: n, Lease: time.Minute})
	if err != nil || len(res.Leases) != n {
		t.Fatalf("claim: %d, %v", len(res.Leases), err)
	}
	for i, l := range res.Leases {
		if want := fmt.Sprintf("%03d", i); l.JobID != want {
			t.Fatalf("claim %d: %s, want %s", i, l.JobID, want)
		}
	}
}

// worker claims and completes jobs of app until it has done its share of
// total (counted in done) or ctx ends, riding over errors from a server
// that goes away.
func worker(ctx context.Context, b *Backend, app, owner string, total int, mu *sync.Mutex, done map[string]int) error {
	for {
		mu.Lock()
		n := len(done)
		mu.Unlock()
		if n >= total {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %d of %d done: %w", owner, n, total, ctx.Err())
		}
		res, err := b.Claim(ctx, store.ClaimRequest{App: app, Owner: owner, N: 5, Lease: 2 * time.Second})
		if err != nil {
			continue // the server is away; Claim retried already
		}
		if len(res.Leases) == 0 {
			b.Wait(ctx, app, time.Now().Add(500*time.Millisecond))
			continue
		}
		for _, l := range res.Leases {
			if err := b.Complete(ctx, l, "exit 0", nil); err != nil {
				continue // lease lost or server away: the job is claimable again
			}
			mu.Lock()
			done[l.JobID]++
			mu.Unlock()
		}
	}
}

// load submits total jobs in batches while workers claim and complete
// them, calls disrupt in the middle, and checks every job completed.
func load(t *testing.T, hosts string, disrupt func()) {
	ctx := ctxT(t)
	const app, total = "q", 3000
	spec := hosts + "/load"
	openOne := func() *Backend {
		b, err := Open(ctx, Options{Hosts: spec, SessionTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	sub := openOne()
	var mu sync.Mutex
	done := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for w := range 3 {
		b := openOne()
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- worker(ctx, b, app, "w"+strconv.Itoa(w), total, &mu, done)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < total; i += 50 {
			var items []store.SubmitItem
			for j := i; j < i+50; j++ {
				items = append(items, store.SubmitItem{Node: store.Node{Ref: store.Ref{App: app, JobID: strconv.Itoa(j)}}, Priority: 100})
			}
			if _, err := sub.Submit(ctx, items); err != nil {
				errs <- fmt.Errorf("submit %d: %w", i, err)
				return
			}
			if i == total/2 {
				disrupt()
			}
		}
		errs <- nil
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, err := sub.Count(ctx, app)
	want := store.Counts{States: map[store.State]int{store.Completed: total}}
	if err != nil || fmt.Sprint(c) != fmt.Sprint(want) {
		t.Fatalf("count: %v, %v, want %v", c, err, want)
	}
	if len(done) != total {
		t.Fatalf("%d jobs completed by workers, want %d", len(done), total)
	}
}

// TestKillRestart: the server is killed (SIGKILL) and restarted while jobs
// are being submitted, claimed and completed: work continues and every job
// ends completed.
func TestKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own server")
	}
	s := zktest.Start(t)
	load(t, s.Hosts(), func() {
		if err := s.Kill(); err != nil {
			t.Error(err)
		}
		if err := s.Restart(); err != nil {
			t.Error(err)
		}
	})
}

// TestEnsembleNodeDown: a three-node ensemble with one node stopped (and
// later started again) keeps working.
func TestEnsembleNodeDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an ensemble")
	}
	e := zktest.StartEnsemble(t, 3)
	load(t, e.Hosts(), func() {
		if err := e.Servers[0].Stop(); err != nil {
			t.Error(err)
		}
	})
	if err := e.Servers[0].Start(); err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctxT(t), Options{Hosts: e.Servers[0].Hosts() + "/load"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.conn.Sync(b.p.apps()); err != nil {
		t.Fatal(err)
	}
	c, err := b.Count(ctxT(t), "q")
	if err != nil || c.States[store.Completed] != 3000 {
		t.Fatalf("count on the restarted node: %v, %v", c, err)
	}
}

// TestWaitWakes: Wait returns when another backend queues work.
func TestWaitWakes(t *testing.T) {
	b1, spec := open(t)
	b2 := openWorkers(t, spec, 1)[0]
	if res, err := b1.Claim(ctxT(t), store.ClaimRequest{App: "a", Owner: "w", N: 1, Lease: time.Minute}); err != nil || len(res.Leases) != 0 {
		t.Fatalf("claim empty: %v %v", res, err)
	}
	woke := make(chan error, 1)
	go func() { woke <- b1.Wait(ctxT(t), "a", time.Time{}) }()
	if _, err := b2.Submit(ctxT(t), []store.SubmitItem{{Node: store.Node{Ref: store.Ref{App: "a", JobID: "1"}}, Priority: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatal(err)
	}
	res, err := b1.Claim(ctxT(t), store.ClaimRequest{App: "a", Owner: "w", N: 1, Lease: time.Minute})
	if err != nil || len(res.Leases) != 1 || res.Leases[0].JobID != "1" {
		t.Fatalf("claim after wait: %+v %v", res, err)
	}
}

// TestBigTransaction: a completion too big for one multi-op is made in
// steps, each smaller than store.Batch children when they are too big; a
// submit with many resets is split.
func TestBigTransaction(t *testing.T) {
	b, _ := open(t)
	ctx := ctxT(t)
	long := strings.Repeat("x", 200)
	var kids []store.Child
	var refs []store.Ref
	for i := range 5000 {
		r := store.Ref{App: "c", JobID: long + strconv.Itoa(i)}
		refs = append(refs, r)
		kids = append(kids, store.Child{Node: store.Node{Ref: r}, Parents: store.ParentList(store.Ref{App: "p", JobID: "1"})})
	}
	if _, err := b.Submit(ctx, []store.SubmitItem{{Node: store.Node{Ref: store.Ref{App: "p", JobID: "1"}}, Priority: 1}}); err != nil {
		t.Fatal(err)
	}
	var steps []int
	hook := store.WithStepHook(ctx, func(_ store.Ref, done int) error {
		steps = append(steps, done)
		return nil
	})
	if err := b.Complete(hook, store.Lease{Ref: store.Ref{App: "p", JobID: "1"}}, "exit 0", kids); err != nil {
		t.Fatalf("complete with 5000 long children: %v", err)
	}
	if len(steps) < 5 || steps[0] == 0 || steps[0] >= store.Batch {
		t.Fatalf("steps after %v children, want more than 5 of fewer than %d", steps, store.Batch)
	}
	counts, err := b.Count(ctx, "c")
	if err != nil || counts.States[store.Pending] != len(refs) || counts.Queued != len(refs) {
		t.Fatalf("children after the completion: %+v %v", counts, err)
	}
	if left, err := b.Unfinished(ctx, 0, 10); err != nil || len(left) != 0 {
		t.Fatalf("unfinished: %v %v", left, err)
	}
	var items []store.SubmitItem
	for _, r := range refs {
		items = append(items, store.SubmitItem{Node: store.Node{Ref: r}, Priority: 1})
	}
	readd := store.SubmitItem{Node: store.Node{Ref: store.Ref{App: "p", JobID: "1"}}, Priority: 1, Readd: true, Reset: refs[:300]}
	items = append(items, readd)
	res, err := b.Submit(ctx, items)
	if err != nil || len(res) != len(items) || res[len(res)-1] != store.Requeued {
		t.Fatalf("submit: %d results, %v", len(res), err)
	}
}

// TestFanInShards: a child of 100 parents has its record in shards until
// it is queued, one of 1,000 keeps it; a parent re-completed after -readd
// is waited for again, and a
// completion made again over 1,500 children whose sets hold it already
// fails one commit, not one per child, and queues nothing.
func TestFanInShards(t *testing.T) {
	b, _ := open(t)
	ctx := ctxT(t)
	var parents []store.Ref
	var items []store.SubmitItem
	for i := range 100 {
		p := store.Ref{App: "p", JobID: strconv.Itoa(i)}
		parents = append(parents, p)
		items = append(items, store.SubmitItem{Node: store.Node{Ref: p}, Priority: 1})
	}
	if _, err := b.Submit(ctx, items); err != nil {
		t.Fatal(err)
	}
	c := store.Child{Node: store.Node{Ref: store.Ref{App: "c", JobID: "1"}}, Parents: store.ParentList(parents...)}
	complete := func(p store.Ref, kids ...store.Child) {
		t.Helper()
		if err := b.Complete(ctx, store.Lease{Ref: p}, "exit 0", kids); err != nil {
			t.Fatalf("complete %v: %v", p, err)
		}
	}
	state := func(r store.Ref) store.Job {
		t.Helper()
		jobs, err := b.Get(ctx, []store.Ref{r})
		if err != nil {
			t.Fatal(err)
		}
		return jobs[0]
	}
	// pending checks that r is pending, queued or not as queued says.
	pending := func(r store.Ref, queued bool, what string) {
		t.Helper()
		if j := state(r); j.State != store.Pending || j.Queued != queued {
			t.Fatalf("%s: %+v", what, j)
		}
	}
	// readd readds parents one at a time, each resetting child.
	readd := func(child store.Ref, parents ...store.Ref) {
		t.Helper()
		for _, p := range parents {
			if _, err := b.Submit(ctx, []store.SubmitItem{{Node: store.Node{Ref: p}, Priority: 1, Readd: true, Reset: []store.Ref{child}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range parents[:99] {
		complete(p, c)
	}
	if n := shards(100); n != 7 {
		t.Fatalf("shards of 100 parents: %d", n)
	}
	if names, _, err := b.conn.Children(b.p.record(c.Ref)); err != nil || len(names) != 7 {
		t.Fatalf("shards of the record: %v %v", names, err)
	}
	complete(parents[99], c)
	if ok, _, err := b.conn.Exists(b.p.record(c.Ref)); err != nil || ok {
		t.Fatalf("record after the child was queued: %v %v, want none", ok, err)
	}
	pending(c.Ref, true, "child after its 100 parents")
	res, err := b.Claim(ctx, store.ClaimRequest{App: "c", Owner: "w", N: 2, Lease: time.Minute})
	if err != nil || len(res.Leases) != 1 {
		t.Fatalf("claim the child: %+v %v", res, err)
	}
	if err := b.Complete(ctx, res.Leases[0], "exit 0", nil); err != nil {
		t.Fatal(err)
	}
	// Two parents readded with the child: it waits for both.
	readd(c.Ref, parents[5], parents[50])
	complete(parents[5], c)
	complete(parents[7], c) // a re-run of another
	pending(c.Ref, false, "child with a parent readded")
	complete(parents[50], c)
	pending(c.Ref, true, "child after its readded parents")

	// A child of 1,000 parents keeps its record once queued; a readd of
	// two parents still makes it wait for both.
	var wide []store.Ref
	items = nil
	for i := range 1000 {
		p := store.Ref{App: "w", JobID: strconv.Itoa(i)}
		wide = append(wide, p)
		items = append(items, store.SubmitItem{Node: store.Node{Ref: p}, Priority: 1})
	}
	if _, err := b.Submit(ctx, items); err != nil {
		t.Fatal(err)
	}
	e := store.Child{Node: store.Node{Ref: store.Ref{App: "e", JobID: "1"}}, Parents: store.ParentList(wide...)}
	for _, p := range wide {
		complete(p, e)
	}
	if ok, _, err := b.conn.Exists(b.p.record(e.Ref)); err != nil || !ok {
		t.Fatalf("record of 1,000 parents after the child was queued: %v %v, want it kept", ok, err)
	}
	pending(e.Ref, true, "child after its 1,000 parents")
	readd(e.Ref, wide[3], wide[500])
	complete(wide[3], e)
	pending(e.Ref, false, "child of 1,000 with a parent readded")
	complete(wide[500], e)
	pending(e.Ref, true, "child of 1,000 after its readded parents")

	// 1,500 children of p/0 and p/1 each: completing p/0 again after its
	// first completion queues nothing; p/1 queues them all.
	var kids []store.Child
	for i := range 1500 {
		kids = append(kids, store.Child{Node: store.Node{Ref: store.Ref{App: "d", JobID: strconv.Itoa(i)}}, Parents: store.ParentList(parents[0], store.Ref{App: "q", JobID: "1"})})
	}
	if _, err := b.Submit(ctx, []store.SubmitItem{{Node: store.Node{Ref: store.Ref{App: "q", JobID: "1"}}, Priority: 1}}); err != nil {
		t.Fatal(err)
	}
	complete(parents[0], kids...)
	complete(parents[0], kids...)
	if n, err := b.Count(ctx, "d"); err != nil || n.Queued != 0 || len(n.States) != 0 && n.States[store.Pending] != 0 {
		t.Fatalf("children before their second parent: %+v %v", n, err)
	}
	complete(store.Ref{App: "q", JobID: "1"}, kids...)
	if n, err := b.Count(ctx, "d"); err != nil || n.Queued != 1500 || n.States[store.Pending] != 1500 {
		t.Fatalf("children after their second parent: %+v %v", n, err)
	}
}

// A backend whose clock is off from the server's by more than a sixteenth
// of the lease refuses to take or renew leases; within it, it claims. The
// clock is put off by the test-only hook Backend.clock. Before the check,
// a clock 10s ahead claimed a job whose 1m lease another host held for
// less than 50s more.
func TestClockSkew(t *testing.T) {
	b, spec := open(t)
	ctx := ctxT(t)
	items := []store.SubmitItem{{Node: store.Node{Ref: store.Ref{App: "a", JobID: "1"}}, Priority: 1}, {Node: store.Node{Ref: store.Ref{App: "a", JobID: "2"}}, Priority: 1}}
	if _, err := b.Submit(ctx, items); err != nil {
		t.Fatal(err)
	}
	res, err := b.Claim(ctx, store.ClaimRequest{App: "a", Owner: "w", N: 1, Lease: time.Minute})
	if err != nil || len(res.Leases) != 1 {
		t.Fatalf("claim with a good clock: %+v %v", res, err)
	}
	for _, tc := range []struct {
		offset time.Duration
		way    string
	}{{10 * time.Second, "ahead of"}, {-10 * time.Second, "behind"}} {
		ob := openWorkers(t, spec, 1)[0]
		ob.clock = func() time.Time { return time.Now().Add(tc.offset) }
		// Measured to the millisecond, the offset is at least 10s less
		// the request's round trip.
		want := regexp.MustCompile(`^zookeeper 127\.0\.0\.1:[0-9]+/\S+: this host's clock is at least (9\.[0-9]+|10)s ` + tc.way +
			` the server's, more than 3\.75s \(a sixteenth of the 1m0s lease\): refusing to take leases; synchronize it \(NTP\)$`)
		check := func(what string, err error) {
			t.Helper()
			if err == nil || !want.MatchString(err.Error()) {
				t.Errorf("offset %v: %s: err = %v, want it to match %s", tc.offset, what, err, want)
			}
		}
		_, err = ob.Claim(ctx, store.ClaimRequest{App: "a", Owner: "x", N: 1, Lease: time.Minute})
		check("claim", err)
		_, err = ob.Acquire(ctx, store.Ref{App: "a", JobID: "2"}, "x", time.Minute)
		check("acquire", err)
		_, err = ob.Renew(ctx, res.Leases[0], time.Minute)
		check("renew", err)
		// A lease 16 times the offset tolerates it.
		if _, err := ob.Claim(ctx, store.ClaimRequest{App: "a", Owner: "x", N: 1, Lease: 200 * time.Second}); err != nil {
			t.Errorf("offset %v, lease 200s: claim: %v", tc.offset, err)
		}
	}
}

// TestTransient: the errors after which a request is tried again include
// the network's own, which go-zookeeper hands a request whose write to a
// server that went away failed ("write: connection reset by peer", seen
// in TestEnsembleNodeDown's submit as one node stopped); an answer of the
// server and a context's end are not.
func TestTransient(t *testing.T) {
	reset := &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ECONNRESET)}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{zk.ErrConnectionClosed, true},
		{fmt.Errorf("x: %w", zk.ErrSessionExpired), true},
		{reset, true},
		{fmt.Errorf("zookeeper h: /p: %w", reset), true},
		{zk.ErrBadVersion, false},
		{zk.ErrNoNode, false},
		{fmt.Errorf("no answer from ZooKeeper: %w", context.DeadlineExceeded), false},
		{nil, false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
