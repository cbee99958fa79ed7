package stolos_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/backend"
	"github.com/stolos-sched/stolos/lib/store/redis/redistest"
	"github.com/stolos-sched/stolos/lib/store/storetest"
	"github.com/stolos-sched/stolos/lib/store/zookeeper/zktest"
)

// The fault suite's settings: a lease shorter than the commands (6 s), a
// grace within an eighth of it, faults longer than the lease.
const (
	faultLease   = 2 * time.Second
	faultGrace   = "250ms"
	faultLength  = 2 * faultLease
	faultRunsEnv = "STOLOS_FAULT_RUNS" // repetitions of each case; 1 by default
	faultDir     = "testdata/fault"
	// faultServerStop is how long a paused server stays paused: past the
	// ZooKeeper session timeout (zookeeper.DefaultSessionTimeout, 5 s) and
	// go-redis's read timeout (3 s), and past the lease.
	faultServerStop = 6 * time.Second
)

// A faultCase is a fault applied to worker A while it runs a job, with
// worker B waiting to take the job over.
type faultCase struct {
	name string
	app  string // of testdata/fault/tasks.json
	// server: the case needs a server (not local); proxy: worker A reaches
	// it through a proxy that the fault cuts.
	server, proxy bool
	apply         func(f *fault)
	// operator: the fault is an operator's change of the running job;
	// the case reports how long A's command lived after it began.
	operator bool
}

var faultCases = []faultCase{
	{name: "partition", app: "plain", server: true, proxy: true, apply: func(f *fault) {
		f.proxy.Cut()
		time.Sleep(faultLength)
		f.proxy.Heal()
	}},
	{name: "worker-stopped", app: "plain", apply: func(f *fault) {
		f.a.Signal(syscall.SIGSTOP)
		time.Sleep(faultLength)
		f.a.Signal(syscall.SIGCONT)
	}},
	{name: "server-stopped", app: "plain", server: true, apply: func(f *fault) {
		if err := f.srv.Pause(); err != nil {
			f.t.Fatalf("pause the server: %v", err)
		}
		time.Sleep(faultServerStop)
		if err := f.srv.Resume(); err != nil {
			f.t.Fatalf("resume the server: %v", err)
		}
	}},
	{name: "timeout-killed", app: "timeout", apply: func(f *fault) { f.a.Signal(syscall.SIGKILL) }},
	// Operators (issue 9 item 3): A stops its command within about a
	// second, and B runs the job only after that.
	{name: "set-failed-readd", app: "plain", operator: true, apply: func(f *fault) {
		f.tool("stolos-state", "-set", "failed", "-a", "plain", "1")
		f.tool("stolos-submit", "-readd", "-a", "plain", "1")
	}},
	{name: "set-pending", app: "plain", operator: true, apply: func(f *fault) {
		f.tool("stolos-state", "-set", "pending", "-a", "plain", "1")
	}},
	{name: "readd", app: "plain", operator: true, apply: func(f *fault) {
		f.tool("stolos-submit", "-readd", "-a", "plain", "1")
	}},
	{name: "setsid-killed", app: "setsid", apply: func(f *fault) { f.a.Signal(syscall.SIGKILL) }},
}

// pausable is a test server that SIGSTOP can stall.
type pausable interface {
	Pause() error
	Resume() error
}

// TestFaults proves "one at a time" (DESIGN.md section 4) under the faults
// that TestChaos does not make, on every backend they apply to: worker A,
// a real stolos-exec -loop, runs a job whose command outlives the lease;
// then A is cut off by a proxy that stops forwarding, or paused (SIGSTOP)
// past its lease, or its server is paused past the ZooKeeper session and
// Redis client timeouts, or A is killed (SIGKILL) while its command runs
// under timeout(1) or setsid(1), out of A's process group, or an operator
// changes the job (stolos-state -set, stolos-submit -readd). Worker B waits
// to take the job over once A's lease has ended. From the commands' start
// and end records, and from how long any process of each run was seen
// alive, no two runs overlap, and the job ends completed.
//
// STOLOS_FAULT_RUNS=N repeats every case N times (1 by default).
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite takes about a minute; -short skips it")
	}
	reps := 1
	if s := os.Getenv(faultRunsEnv); s != "" {
		var err error
		if reps, err = strconv.Atoi(s); err != nil || reps < 1 {
			t.Fatalf("%s=%q: want a positive number", faultRunsEnv, s)
		}
	}
	bin := buildChaosTools(t)
	script, err := os.ReadFile(filepath.Join(faultDir, "fault-job"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "fault-job"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	total, overlaps := 0, 0
	var stops []time.Duration // operator cases: from the change to the command's death
	t.Cleanup(func() {
		t.Logf("%d cases run, %d overlapping runs", total, overlaps)
		if len(stops) > 0 {
			slices.Sort(stops)
			t.Logf("operator changes: the command died %v after the change at most, %v at the median (%d runs)",
				stops[len(stops)-1].Round(time.Millisecond), stops[len(stops)/2].Round(time.Millisecond), len(stops))
		}
	})
	// The backends run at once, whatever -parallel says (it defaults to
	// the number of processors): their cases mostly wait, and one after
	// another they took over 3 minutes.
	var backends sync.WaitGroup
	defer backends.Wait()
	for _, b := range backend.Names {
		backends.Add(1)
		go t.Run(b, func(t *testing.T) {
			defer backends.Done()
			var srv pausable
			var addr string // host:port
			switch b {
			case "redis":
				s := redistest.Start(t)
				srv, addr = s, s.Addr()
			case "zookeeper":
				s := zktest.Start(t)
				srv, addr = s, s.Hosts()
			}
			for _, c := range faultCases {
				if c.server && srv == nil {
					continue
				}
				for i := range reps {
					t.Run(fmt.Sprintf("%s/%d", c.name, i+1), func(t *testing.T) {
						f := &fault{t: t, bin: bin, backend: b, srv: srv, addr: addr, dir: t.TempDir()}
						n := f.run(c)
						mu.Lock()
						total++
						overlaps += n
						if c.operator {
							stops = append(stops, f.stopped)
						}
						mu.Unlock()
					})
				}
			}
		})
	}
}

// fault is one run of one case.
type fault struct {
	t       *testing.T
	bin     string
	backend string
	srv     pausable
	addr    string // the server's host:port
	dir     string
	ns      string
	env     []string
	proxy   *storetest.Proxy
	a, b    *os.Process
	waits   sync.WaitGroup
	stopped time.Duration // operator cases: from the change to the death of A's command
}

// envFor is the environment of a tool that reaches the server at addr.
func (f *fault) envFor(addr string) []string {
	env := append(os.Environ(),
		"PATH="+f.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"STOLOS_TASKS_JSON="+filepath.Join(faultDir, "tasks.json"),
		"STOLOS_QUEUE_BACKEND="+f.backend,
		"CHAOS_LOG="+filepath.Join(f.dir, "runs.log"))
	switch f.backend {
	case "local":
		env = append(env, "STOLOS_QB_LOCAL_PATH="+filepath.Join(f.dir, "stolos.db"))
	case "redis":
		host, port, _ := strings.Cut(addr, ":")
		env = append(env, "STOLOS_QB_REDIS_HOST="+host, "STOLOS_QB_REDIS_PORT="+port,
			"STOLOS_QB_REDIS_KEY_PREFIX="+f.ns+":")
	case "zookeeper":
		env = append(env, "STOLOS_QB_ZOOKEEPER_HOSTS="+addr+"/"+f.ns)
	}
	return env
}

// run runs case c and returns the number of overlapping runs.
func (f *fault) run(c faultCase) int {
	t := f.t
	f.ns = "fault" + strconv.FormatInt(namespaces.Add(1), 10)
	f.env = f.envFor(f.addr)
	aEnv := f.env
	if c.proxy {
		p, err := storetest.StartProxy(f.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		f.proxy = p
		aEnv = f.envFor(p.Addr())
	}
	w := newRunWatch(filepath.Join(f.dir, "runs.log"))
	defer w.stop()
	f.tool("stolos-submit", "-a", c.app, "1")
	f.a = f.worker(c.app, "A", aEnv)
	start := w.waitStart(t, f.ns+".A", 30*time.Second)
	f.b = f.worker(c.app, "B", f.env)
	t0 := time.Now()
	c.apply(f)
	t.Logf("fault %s applied %v after A's command started, for %v", c.name, t0.Sub(start).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	f.waitState(c.app, "1", "completed", 60*time.Second)
	f.halt()
	if !w.waitGone(30 * time.Second) {
		t.Errorf("processes of runs still alive 30s after the workers exited")
	}
	w.stop()
	if c.operator {
		for _, r := range w.runs(t) {
			if strings.HasSuffix(r.id, "."+f.ns+".A") && r.start < t0.UnixNano() {
				f.stopped = time.Duration(r.end - t0.UnixNano())
				t.Logf("A's command died %v after the change", f.stopped.Round(time.Millisecond))
			}
		}
	}
	return f.check(w)
}

// worker starts a stolos-exec -loop worker named NS.NAME.
func (f *fault) worker(app, name string, env []string) *os.Process {
	id := f.ns + "." + name
	stderr, err := os.Create(filepath.Join(f.dir, id+".log"))
	if err != nil {
		f.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(f.bin, "stolos-exec"), "-a", app, "-loop",
		"-wait", "200ms", "-lease", faultLease.String(), "-grace", faultGrace)
	cmd.Env = append(slices.Clip(env), "CHAOS_WORKER="+id)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.waits.Add(1)
	go func() {
		defer f.waits.Done()
		cmd.Wait()
		stderr.Close()
	}()
	f.t.Cleanup(func() { cmd.Process.Kill() })
	return cmd.Process
}

// halt stops the workers (SIGCONT, SIGTERM) and waits for them, killing
// them after 20s.
func (f *fault) halt() {
	for _, p := range []*os.Process{f.a, f.b} {
		p.Signal(syscall.SIGCONT)
		p.Signal(syscall.SIGTERM)
	}
	done := make(chan struct{})
	go func() {
		f.waits.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(20 * time.Second):
	}
	f.t.Errorf("workers still running 20s after SIGTERM; killing them")
	f.a.Kill()
	f.b.Kill()
	<-done
}

func (f *fault) tool(name string, args ...string) string {
	f.t.Helper()
	cmd := exec.Command(filepath.Join(f.bin, name), args...)
	cmd.Env = f.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		f.t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out)
}

// waitState polls stolos-state until the job is in state want.
func (f *fault) waitState(app, id, want string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		out := f.tool("stolos-state", "-a", app, id)
		if fs := strings.Split(strings.TrimSpace(out), "\t"); len(fs) >= 3 && fs[2] == want {
			return
		}
		last = out
		if time.Now().After(deadline) {
			f.t.Fatalf("%s %s not %s within %v: %s", app, id, want, timeout, strings.TrimSpace(last))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check reads the runs and reports overlaps; it returns their number.
func (f *fault) check(w *runWatch) int {
	t := f.t
	runs := w.runs(t)
	slices.SortFunc(runs, func(a, b *faultRun) int { return int(a.start - b.start) })
	n := 0
	for i := 1; i < len(runs); i++ {
		for _, r := range runs[:i] {
			if runs[i].start <= r.end {
				t.Errorf("two runs overlap by %v:\n\t%v\n\t%v", time.Duration(r.end-runs[i].start), r, runs[i])
				n++
			}
		}
	}
	completed := 0
	for _, r := range runs {
		if r.ended {
			completed++
		}
		t.Logf("run %v", r)
	}
	if completed == 0 {
		t.Errorf("no run ended by itself")
	}
	for _, name := range []string{"A", "B"} {
		data, _ := os.ReadFile(filepath.Join(f.dir, f.ns+"."+name+".log"))
		t.Logf("worker %s said:\n%s", name, data)
	}
	return n
}

// faultRun is one run of a command: from its start record to its end
// record or the last moment one of its processes was seen, whichever is
// later.
type faultRun struct {
	id         string // PID.WORKER
	start, end int64  // unix nanoseconds
	ended      bool   // it wrote its end record
}

func (r *faultRun) String() string {
	how := "killed"
	if r.ended {
		how = "ended"
	}
	return fmt.Sprintf("%s %s..%s (%v, %s)", r.id, nanoStamp(r.start), nanoStamp(r.end), time.Duration(r.end-r.start).Round(time.Millisecond), how)
}

// runWatch samples, every 20 ms, which runs have a live process (by
// FAULT_RUN in their environment; the processes of this log only).
type runWatch struct {
	log  string
	mu   sync.Mutex
	seen map[string]int64 // run -> last seen, unix nanoseconds
	live int
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

func newRunWatch(log string) *runWatch {
	w := &runWatch{log: log, seen: map[string]int64{}, quit: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *runWatch) loop() {
	defer close(w.done)
	marker := []byte("CHAOS_LOG=" + w.log)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		now := time.Now().UnixNano()
		live := 0
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
			if err != nil || !bytes.Contains(env, marker) {
				continue
			}
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
				if i := bytes.LastIndexByte(st, ')'); i >= 0 && len(st) > i+2 && st[i+2] == 'Z' {
					continue // dead, not reaped yet
				}
			}
			for kv := range bytes.SplitSeq(env, []byte{0}) {
				if run, ok := bytes.CutPrefix(kv, []byte("FAULT_RUN=")); ok {
					w.mu.Lock()
					w.seen[string(run)] = now
					w.mu.Unlock()
					live++
				}
			}
		}
		w.mu.Lock()
		w.live = live
		w.mu.Unlock()
		select {
		case <-w.quit:
			return
		case <-t.C:
		}
	}
}

func (w *runWatch) stop() {
	w.once.Do(func() { close(w.quit) })
	<-w.done
}

// waitGone waits until no process of any run is alive.
func (w *runWatch) waitGone(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		time.Sleep(60 * time.Millisecond) // three samples
		w.mu.Lock()
		live := w.live
		w.mu.Unlock()
		if live == 0 {
			return true
		}
	}
	return false
}

// waitStart waits for the start record of a run of worker, and returns
// when it was written.
func (w *runWatch) waitStart(t *testing.T, worker string, timeout time.Duration) time.Time {
	deadline := time.Now().Add(timeout)
	for {
		for _, r := range w.records(t) {
			if r.kind == "start" && strings.HasSuffix(r.run, "."+worker) {
				return time.Unix(0, r.at)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run of worker %s started within %v", worker, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type faultRecord struct {
	kind, run string
	at        int64
}

func (w *runWatch) records(t *testing.T) []faultRecord {
	f, err := os.Open(w.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []faultRecord
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 || fs[0] != "start" && fs[0] != "end" {
			t.Fatalf("%s:%d: bad line %q", w.log, n, sc.Text())
		}
		at, err := strconv.ParseInt(fs[3], 10, 64)
		if err != nil {
			t.Fatalf("%s:%d: bad line %q", w.log, n, sc.Text())
		}
		out = append(out, faultRecord{kind: fs[0], run: fs[4], at: at})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// runs puts the records and the sampled lifetimes together.
func (w *runWatch) runs(t *testing.T) []*faultRun {
	byID := map[string]*faultRun{}
	var out []*faultRun
	for _, r := range w.records(t) {
		fr := byID[r.run]
		switch {
		case r.kind == "start" && fr == nil:
			fr = &faultRun{id: r.run, start: r.at, end: r.at}
			byID[r.run] = fr
			out = append(out, fr)
		case r.kind == "end" && fr != nil:
			fr.ended = true
			fr.end = max(fr.end, r.at)
		default:
			t.Fatalf("%s: unexpected record %v", w.log, r)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, fr := range out {
		fr.end = max(fr.end, w.seen[fr.id])
	}
	return out
}
