package storetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// The environment of a worker process started by the suite.
const (
	envWorker = "STOLOS_STORETEST_WORKER" // the worker to run
	envSpec   = "STOLOS_STORETEST_SPEC"   // the spec to open
	envArgs   = "STOLOS_STORETEST_ARGS"   // its arguments, JSON
)

// MaybeChild must be called first in TestMain: when the process was started
// by the suite as a worker process, it runs that worker with h.Open and
// exits; otherwise it returns at once.
func MaybeChild(h Harness) {
	name, ok := os.LookupEnv(envWorker)
	if !ok {
		return
	}
	if err := runChild(h, name, os.Getenv(envSpec), []byte(os.Getenv(envArgs)), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "storetest worker %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// A worker runs in a child process on its own backend instance; it gets its
// arguments as JSON and returns a result that is sent back as JSON.
type worker func(ctx context.Context, b store.Backend, owner string, args []byte) (any, error)

func workers() map[string]worker {
	return map[string]worker{
		"claimer":     claimerWorker,
		"completer":   completerWorker,
		"parker":      parkerWorker,
		"deserter":    deserterWorker,
		"recompleter": recompleterWorker,
	}
}

// runChild opens the backend, says "ready", waits for a line on stdin so
// that all workers start together, runs the worker and writes its result.
func runChild(h Harness, name, spec string, args []byte, stdin io.Reader, stdout io.Writer) error {
	w, ok := workers()[name]
	if !ok {
		return fmt.Errorf("unknown worker %q", name)
	}
	b, err := h.open(spec)
	if err != nil {
		return fmt.Errorf("open %q: %w", spec, err)
	}
	defer b.Close()
	if _, err := fmt.Fprintln(stdout, "ready"); err != nil {
		return err
	}
	if _, err := bufio.NewReader(stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for go: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := w(ctx, b, name+"-"+strconv.Itoa(os.Getpid()), args)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		return err
	}
	return b.Close()
}

// claimArgs: claim up to N jobs at a time and complete each, until nothing
// is claimable.
type claimArgs struct {
	App string
	N   int
}

func claimerWorker(ctx context.Context, b store.Backend, owner string, raw []byte) (any, error) {
	var a claimArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	done := []string{}
	for {
		r, err := b.Claim(ctx, store.ClaimRequest{App: a.App, Owner: owner, N: a.N, Lease: longLease})
		if err != nil {
			return nil, err
		}
		if len(r.Leases) == 0 {
			return done, nil
		}
		for _, l := range r.Leases {
			if err := b.Complete(ctx, l, "exit 0", nil); err != nil {
				return nil, fmt.Errorf("complete %v: %w", l.Ref, err)
			}
			done = append(done, l.JobID)
		}
	}
}

// completeItem: acquire Parent and complete it with Children.
type completeItem struct {
	Parent   store.Ref
	Children []kid
}

// kid is a store.Child that goes through JSON.
type kid struct {
	store.Node
	Parents []store.Ref
}

// kids makes the children of a completeItem.
func kids(ks []kid) []store.Child {
	out := make([]store.Child, len(ks))
	for i, k := range ks {
		out[i] = store.Child{Node: k.Node, Parents: store.ParentList(k.Parents...)}
	}
	return out
}

func completerWorker(ctx context.Context, b store.Backend, owner string, raw []byte) (any, error) {
	var items []completeItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	for _, it := range items {
		l, err := b.Acquire(ctx, it.Parent, owner, longLease)
		if err != nil {
			return nil, fmt.Errorf("acquire %v: %w", it.Parent, err)
		}
		if err := b.Complete(ctx, l, "exit 0", kids(it.Children)); err != nil {
			return nil, fmt.Errorf("complete %v: %w", it.Parent, err)
		}
	}
	return len(items), nil
}

// parkItem: acquire Child and park it on Parents.
type parkItem struct {
	Child   store.Ref
	Parents []store.Node
}

// parkerWorker returns, for each item, whether the child was ready.
func parkerWorker(ctx context.Context, b store.Backend, owner string, raw []byte) (any, error) {
	var items []parkItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	ready := []bool{}
	for _, it := range items {
		l, err := b.Acquire(ctx, it.Child, owner, longLease)
		if err != nil {
			return nil, fmt.Errorf("acquire %v: %w", it.Child, err)
		}
		r, err := parkNodes(ctx, b, l, it.Parents)
		if err != nil {
			return nil, fmt.Errorf("park %v: %w", it.Child, err)
		}
		ready = append(ready, r.Ready)
	}
	return ready, nil
}

// deserterWorker claims jobs of an app under a short lease and exits
// without a word, as a killed worker would.
func deserterWorker(ctx context.Context, b store.Backend, owner string, raw []byte) (any, error) {
	var a claimArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	r, err := b.Claim(ctx, store.ClaimRequest{App: a.App, Owner: owner, N: a.N, Lease: shortLease})
	if err != nil {
		return nil, err
	}
	return r.Leases, nil
}

// job is one worker process to run.
type job struct {
	worker string
	args   any
}

// runWorkers starts one process per job on spec, lets them all go at once
// when all are ready, and decodes each one's result into results[i].
func runWorkers(t *testing.T, spec string, jobs []job, results []any) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("test binary: %v", err)
	}
	type proc struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout *bufio.Reader
		stderr bytes.Buffer
	}
	procs := make([]*proc, len(jobs))
	t.Cleanup(func() {
		for _, p := range procs {
			if p != nil && p.cmd.ProcessState == nil {
				p.cmd.Process.Kill()
				p.cmd.Wait()
			}
		}
	})
	for i, j := range jobs {
		args, err := json.Marshal(j.args)
		if err != nil {
			t.Fatalf("worker args: %v", err)
		}
		p := &proc{cmd: exec.Command(exe, "-test.run=^$")}
		p.cmd.Env = append(os.Environ(), envWorker+"="+j.worker, envSpec+"="+spec, envArgs+"="+string(args))
		p.cmd.Stderr = &p.stderr
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		out, err := p.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		p.stdout = bufio.NewReader(out)
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("start worker %s: %v", j.worker, err)
		}
		procs[i] = p
	}
	for i, p := range procs {
		if line, err := p.stdout.ReadString('\n'); line != "ready\n" {
			p.cmd.Wait()
			t.Fatalf("worker %d (%s) not ready: %q %v; stderr: %s", i, jobs[i].worker, line, err, p.stderr.String())
		}
	}
	for _, p := range procs {
		fmt.Fprintln(p.stdin, "go")
		p.stdin.Close()
	}
	for i, p := range procs {
		out, err := io.ReadAll(p.stdout)
		if err != nil {
			t.Fatalf("worker %d output: %v", i, err)
		}
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("worker %d (%s): %v; stderr: %s", i, jobs[i].worker, err, p.stderr.String())
		}
		if err := json.Unmarshal(out, results[i]); err != nil {
			t.Fatalf("worker %d (%s) result %q: %v", i, jobs[i].worker, out, err)
		}
	}
}

// testProcessesClaimComplete: four processes claim and complete one queue
// of a few hundred jobs at once; each job is handed to exactly one of them,
// and none is lost.
func (s suite) testProcessesClaimComplete(t *testing.T) {
	const n, procs = 300, 4
	b, spec := s.open(t)
	var items []store.SubmitItem
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("%03d", i)
		items = append(items, item("q", want[i], 100+i%7))
	}
	submit(t, b, items[:n/2]...)
	submit(t, b, items[n/2:]...)
	jobs := make([]job, procs)
	results := make([]any, procs)
	got := make([][]string, procs)
	for i := range jobs {
		jobs[i] = job{"claimer", claimArgs{App: "q", N: 1 + i%3}}
		results[i] = &got[i]
	}
	runWorkers(t, spec, jobs, results)
	var all []string
	for _, g := range got {
		all = append(all, g...)
	}
	sort.Strings(all)
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("jobs claimed and completed by %d processes (%d): %v", procs, len(all), all)
	}
	checkCounts(t, b, "q", counts{Completed: n})
}

// testProcessesParentsRace: the parents of each child are completed at the
// same time by different processes; every child ends queued, once.
func (s suite) testProcessesParentsRace(t *testing.T) {
	const kids, parents, procs = 25, 8, 4
	b, spec := s.open(t)
	var items []store.SubmitItem
	work := make([][]completeItem, procs)
	for k := 0; k < kids; k++ {
		c := kid{Node: node("c", strconv.Itoa(k))}
		for j := 0; j < parents; j++ {
			p := ref("p", fmt.Sprintf("%d-%d", k, j))
			c.Parents = append(c.Parents, p)
			items = append(items, item(p.App, p.JobID, 100))
		}
		for j, p := range c.Parents {
			work[j%procs] = append(work[j%procs], completeItem{Parent: p, Children: []kid{c}})
		}
	}
	submit(t, b, items...)
	jobs := make([]job, procs)
	results := make([]any, procs)
	for i := range jobs {
		jobs[i] = job{"completer", work[i]}
		results[i] = new(int)
	}
	runWorkers(t, spec, jobs, results)
	checkCounts(t, b, "p", counts{Completed: kids * parents})
	checkCounts(t, b, "c", counts{Pending: kids, Queued: kids})
	got := ids(claim(t, b, "c", kids+10, longLease).Leases)
	sort.Strings(got)
	var want []string
	for k := 0; k < kids; k++ {
		want = append(want, strconv.Itoa(k))
	}
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("children claimed: %v, want %v", got, want)
	}
}

// testProcessesParkRace: one process parks children while another completes
// their last parents; every child ends up queued (held by the parker when
// Park found it ready, claimable otherwise).
func (s suite) testProcessesParkRace(t *testing.T) {
	const kids = 200
	b, spec := s.open(t)
	var parks []parkItem
	var completes []completeItem
	var items []store.SubmitItem
	for k := 0; k < kids; k++ {
		id := strconv.Itoa(k)
		x, y, c := ref("x", id), ref("y", id), ref("c", id)
		items = append(items, item("x", id, 100), item("y", id, 100), item("c", id, 100))
		parks = append(parks, parkItem{Child: c, Parents: []store.Node{{Ref: x}, {Ref: y}}})
		completes = append(completes, completeItem{Parent: y, Children: []kid{{Node: store.Node{Ref: c}, Parents: []store.Ref{x, y}}}})
	}
	submit(t, b, items...)
	for k := 0; k < kids; k++ {
		completeRef(t, b, ref("x", strconv.Itoa(k)))
	}
	// The two go through the children in opposite orders, so that they meet
	// in the middle: parks before, during and after the completions.
	for i, j := 0, len(completes)-1; i < j; i, j = i+1, j-1 {
		completes[i], completes[j] = completes[j], completes[i]
	}
	var ready []bool
	var n int
	runWorkers(t, spec, []job{{"parker", parks}, {"completer", completes}}, []any{&ready, &n})
	if len(ready) != kids || n != kids {
		t.Fatalf("workers: %d parks, %d completions", len(ready), n)
	}
	var free []string
	refs := make([]store.Ref, kids)
	for k := range refs {
		refs[k] = ref("c", strconv.Itoa(k))
		if !ready[k] {
			free = append(free, refs[k].JobID)
		}
	}
	for k, j := range getJobs(t, b, refs...) {
		if j.State != store.Pending || !j.Queued || j.Claimed(time.Now()) != ready[k] {
			t.Fatalf("child %v (ready %v): %+v", j.Ref, ready[k], j)
		}
	}
	got := ids(claim(t, b, "c", kids+10, longLease).Leases)
	sort.Strings(got)
	sort.Strings(free)
	if len(got) != len(free) || len(got) > 0 && !reflect.DeepEqual(got, free) {
		t.Fatalf("claimable children: %v, want %v", got, free)
	}
	t.Logf("%d of %d children found ready by park", kids-len(free), kids)
}

// testProcessesDeadWorker: a job claimed by a process that dies is
// claimable again when its lease ends, by another process.
func (s suite) testProcessesDeadWorker(t *testing.T) {
	b, spec := s.open(t)
	submit(t, b, item("q", "1", 100), item("q", "2", 100))
	var leases []store.Lease
	runWorkers(t, spec, []job{{"deserter", claimArgs{App: "q", N: 1}}}, []any{&leases})
	if len(leases) != 1 || leases[0].JobID != "1" {
		t.Fatalf("deserter claimed %+v", leases)
	}
	done := map[string]bool{}
	waitFor(t, "claim after the dead worker's lease", func() bool {
		for _, l := range claim(t, b, "q", 2, longLease).Leases {
			if l.JobID == "1" && time.Now().Before(leases[0].Until.Add(-tolerance)) {
				t.Fatalf("claimed %v at %v, lease of the dead worker until %v", l.Ref, time.Now(), leases[0].Until)
			}
			complete(t, b, l)
			done[l.JobID] = true
		}
		return done["1"] && done["2"]
	})
	wantLeaseLost(t, "complete with the dead worker's lease", b.Complete(ctx(t), leases[0], "exit 0", nil))
	checkCounts(t, b, "q", counts{Completed: 2})
}
