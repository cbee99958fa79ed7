package stolos_test

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/backend"
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/graph"
	"github.com/stolos-sched/stolos/lib/jobid"
	"github.com/stolos-sched/stolos/lib/store/redis/redistest"
	"github.com/stolos-sched/stolos/lib/store/zookeeper/zktest"
)

// The chaos test's settings. A killed worker's job is runnable again within
// chaosLease; workers renew every third of it.
const (
	chaosLease = 1500 * time.Millisecond
	chaosWait  = "300ms"
	// The jobs of a phase must complete within chaosDeadline, and some job
	// must complete every chaosStall: generous bounds, which end only a run
	// that is stuck. A run took 28-42 s per backend at load 12-20 on 2
	// cores, and grows with the load: the former 150 s left little room at
	// load 50.
	chaosDeadline = 10 * time.Minute
	chaosStall    = 2 * time.Minute
	// chaosGone bounds how long a dead worker's processes, and after the
	// run every job's, may take to be gone (they are killed at once; a
	// loaded machine takes its time to run the killers).
	chaosGone    = 30 * time.Second
	chaosSeedEnv = "STOLOS_CHAOS_SEED"
	// chaosOutageEnv=0 turns off the outage phase (see chaos.outage): the
	// server is down for about a lease while long jobs run, and the workers
	// cut off from it must stop their commands before their leases end
	// (lib/exec worker.renew), or a worker that claims a job as soon as the
	// server is back would run it beside the old run.
	chaosOutageEnv = "STOLOS_CHAOS_OUTAGE"
	chaosDir       = "testdata/chaos"
)

// TestChaos proves the guarantees of DESIGN.md section 4 under crashes and
// concurrency, on every backend: worker processes (stolos-exec -loop) run
// the DAG of testdata/chaos/tasks.json while a seeded chaos loop kills them
// with SIGKILL at random moments (and the Redis and ZooKeeper servers are
// restarted once). Every command (testdata/chaos/chaos-job) logs when it
// starts and ends; from that log the test checks that every job ran and
// completed once for good (at least once), that no two runs of a job
// overlapped (one at a time), that every run of a child started after its
// parents' completing runs ended (dependencies), that jobs asked for before
// their ancestors ran after them (bubble up), and that no command outlived
// its killed worker.
func TestChaos(t *testing.T) {
	bin := buildChaosTools(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(chaosSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", chaosSeedEnv, s, err)
		}
	}
	t.Logf("chaos seed %d (set %s=%d to replay the same choices)", seed, chaosSeedEnv, seed)
	g := loadChaosGraph(t)
	for i, b := range backend.Names {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			c := &chaos{t: t, bin: bin, g: g, dir: t.TempDir(), rng: rand.New(rand.NewPCG(seed, uint64(i)))}
			// This test process's own too: workers are found by this
			// name in /proc, where other test processes' chaos runs may
			// be, and those of an earlier one with the same pid (pids
			// wrap within seconds on a busy machine; a test binary
			// killed by its timeout leaves its workers behind).
			ns := "chaos" + chaosProcess + "-" + strconv.FormatInt(namespaces.Add(1), 10)
			c.ns = ns
			c.env = append(os.Environ(),
				"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
				"STOLOS_TASKS_JSON="+filepath.Join(chaosDir, "tasks.json"),
				"STOLOS_JOB_ID_VALIDATIONS="+filepath.Join(chaosDir, "validations.json"),
				"STOLOS_QUEUE_BACKEND="+b,
				"CHAOS_LOG="+filepath.Join(c.dir, "runs.log"))
			switch b {
			case "local":
				c.env = append(c.env, "STOLOS_QB_LOCAL_PATH="+filepath.Join(c.dir, "stolos.db"))
			case "redis":
				// A server of its own, with every write on disk, so that
				// restarting it loses nothing acknowledged.
				srv := redistest.StartConfig(t, redistest.Config{Persist: true})
				c.env = append(c.env, "STOLOS_QB_REDIS_HOST="+srv.Host(),
					"STOLOS_QB_REDIS_PORT="+strconv.Itoa(srv.Port()),
					"STOLOS_QB_REDIS_KEY_PREFIX="+ns+":")
				c.stopServer, c.startServer = func() error { srv.Kill(); return nil }, srv.Restart
			case "zookeeper":
				// A server of its own: restarting the shared one would
				// disturb the other tests.
				srv := zktest.Start(t)
				c.env = append(c.env, "STOLOS_QB_ZOOKEEPER_HOSTS="+srv.Hosts()+"/"+ns)
				c.stopServer, c.startServer = srv.Kill, srv.Restart
			}
			c.run()
		})
	}
}

// chaosProcess names this test process among those on the machine, past
// and present: its pid and its start time.
var chaosProcess = strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano()%(1<<40), 36)

// buildChaosTools builds the tools into a directory of their own (real
// executables: stolos-exec starts itself as the reaper of each command),
// with the job command beside them.
func buildChaosTools(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	out, err := exec.Command("go", "build", "-o", bin+string(os.PathSeparator), "./cmd/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/...: %v\n%s", err, out)
	}
	script, err := os.ReadFile(filepath.Join(chaosDir, "chaos-job"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "chaos-job"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// chaosJob is a job of the chaos DAG, "APP JOB_ID".
type chaosJob struct{ app, id string }

func (j chaosJob) String() string { return j.app + " " + j.id }

// chaosGraph is what the test needs of the configuration: the apps, and the
// parents of every job it meets.
type chaosGraph struct {
	cfg     *config.Config
	mu      sync.Mutex
	parents map[chaosJob][]chaosJob
}

func loadChaosGraph(t *testing.T) *chaosGraph {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chaosDir, "validations.json"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := jobid.ParseValidations(data)
	if err != nil {
		t.Fatal(err)
	}
	if data, err = os.ReadFile(filepath.Join(chaosDir, "tasks.json")); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data, config.Options{Validations: v})
	if err != nil {
		t.Fatal(err)
	}
	return &chaosGraph{cfg: cfg, parents: map[chaosJob][]chaosJob{}}
}

func (g *chaosGraph) vals(t *testing.T, j chaosJob) (*config.App, []string) {
	a := g.cfg.App(j.app)
	if a == nil {
		t.Fatalf("%v: unknown app", j)
	}
	vals, err := a.Parser.Parse(j.id)
	if err != nil {
		t.Fatalf("%v: %v", j, err)
	}
	return a, vals
}

func (g *chaosGraph) parentsOf(t *testing.T, j chaosJob) []chaosJob {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ps, ok := g.parents[j]; ok {
		return ps
	}
	a, vals := g.vals(t, j)
	var ps []chaosJob
	for _, r := range graph.Parents(nil, a, vals) {
		ps = append(ps, chaosJob{r.App.Name, r.JobID})
	}
	g.parents[j] = ps
	return ps
}

func (g *chaosGraph) childrenOf(t *testing.T, j chaosJob) []chaosJob {
	a, vals := g.vals(t, j)
	var cs []chaosJob
	for _, r := range graph.Children(nil, a, vals) {
		cs = append(cs, chaosJob{r.App.Name, r.JobID})
	}
	return cs
}

// closure is every job that submitting jobs leads to run: the jobs, their
// ancestors (bubble up), and the descendants whose parents all run
// (bubble down), in a stable order.
func (g *chaosGraph) closure(t *testing.T, jobs []chaosJob) []chaosJob {
	in := map[chaosJob]bool{}
	var out []chaosJob
	var up func(j chaosJob)
	up = func(j chaosJob) {
		if in[j] {
			return
		}
		in[j] = true
		out = append(out, j)
		for _, p := range g.parentsOf(t, j) {
			up(p)
		}
	}
	for _, j := range jobs {
		up(j)
	}
	for i := 0; i < len(out); i++ {
		for _, c := range g.childrenOf(t, out[i]) {
			if in[c] {
				continue
			}
			ready := true
			for _, p := range g.parentsOf(t, c) {
				ready = ready && in[p]
			}
			if ready {
				in[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// chaos is one run of the chaos test on one backend.
type chaos struct {
	t   *testing.T
	bin string
	g   *chaosGraph
	dir string
	env []string
	rng *rand.Rand
	// stopServer kills the backend's server, startServer starts it again
	// with the same data; both nil for local.
	stopServer, startServer func() error
	ns                      string // names this run's workers and backend namespace

	slots  []*chaosSlot
	stop   chan struct{} // closed to stop the chaos loop
	paused atomic.Bool   // no more kills
	done   sync.WaitGroup

	mu       sync.Mutex
	kills    map[string]chaosKill // by worker incarnation
	exited   map[string]chaosKill // incarnations that exited by themselves
	exits    int                  // workers that exited by themselves
	restarts []time.Duration
}

// chaosKill is a worker incarnation killed with SIGKILL: when, and the last
// moment a process it left (its reaper, its command) was seen alive.
type chaosKill struct {
	at, lastSeen time.Time
}

// chaosSlot is one worker kept running: when its process dies (killed by
// the chaos loop, or exiting because the server went away) it is started
// again, as a new incarnation named NS.APP.N.INC.
type chaosSlot struct {
	app  string
	name string

	mu       sync.Mutex
	proc     *os.Process
	inc      string
	stopping bool
}

func (c *chaos) run() {
	t := c.t
	// gather is a fan-in of 1,000 ticks.
	submitted := []chaosJob{{"report", "20240101"}, {"ingest", "20240101_1"}, {"ingest", "20240101_2"}, {"clean", "20240101_3_7"}, {"gather", "20240101"}}
	type workers struct {
		app string
		n   int
	}
	slots := []workers{{"ingest", 1}, {"split", 2}, {"clean", 2}, {"merge", 1}, {"report", 1}, {"tick", 2}, {"gather", 1}}
	if testing.Short() {
		submitted = []chaosJob{{"merge", "20240101_1"}}
		slots = []workers{{"ingest", 1}, {"split", 1}, {"clean", 1}, {"merge", 1}}
	}
	want := c.g.closure(t, submitted)
	// With a server: the long jobs of the outage, more workers than jobs,
	// and how long the server is down (around a lease).
	var long []chaosJob
	var outage time.Duration
	if c.stopServer != nil && os.Getenv(chaosOutageEnv) != "0" {
		for i := range 5 {
			long = append(long, chaosJob{"long", "20240101_" + strconv.Itoa(i+1)})
		}
		slots = append(slots, workers{"long", len(long) + 2})
		outage = chaosLease/2 + time.Duration(c.rng.Int64N(int64(chaosLease*5/6)))
	}
	c.kills = map[string]chaosKill{}
	c.exited = map[string]chaosKill{}
	c.stop = make(chan struct{})
	start := time.Now()

	for _, j := range submitted {
		c.tool("stolos-submit", "-a", j.app, j.id)
	}
	if err := os.Mkdir(filepath.Join(c.dir, "workers"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, w := range slots {
		for i := range w.n {
			s := &chaosSlot{app: w.app, name: w.app + "." + strconv.Itoa(i)}
			c.slots = append(c.slots, s)
			c.done.Add(1)
			go c.supervise(s)
		}
	}
	t.Cleanup(c.halt)
	c.done.Add(1)
	go c.chaosLoop()

	c.waitCompleted(want, true)
	if long != nil {
		c.paused.Store(true)
		c.outage(long, outage)
		c.waitCompleted(long, false)
		want = append(want, long...)
	}
	elapsed := time.Since(start)
	c.halt()
	c.checkNoOrphans()
	c.checkCounts(want)
	c.checkRuns(want, elapsed)
}

// outage runs long jobs, and kills the server while they run for d, about
// a lease: their workers cannot renew their leases, and when the server is
// back, idle workers take over the jobs whose leases expired. The workers
// that lost them must have stopped their commands by then (one at a time).
func (c *chaos) outage(jobs []chaosJob, d time.Duration) {
	t := c.t
	for _, j := range jobs {
		c.tool("stolos-submit", "-a", j.app, j.id)
	}
	deadline := time.Now().Add(chaosStall)
	for {
		data, err := os.ReadFile(filepath.Join(c.dir, "runs.log"))
		if err != nil {
			t.Fatal(err)
		}
		started := map[string]bool{}
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) == 6 && f[0] == "start" && f[1] == "long" {
				started[f[2]] = true
			}
		}
		if len(started) == len(jobs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d long jobs started within %v", len(started), len(jobs), chaosStall)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.stopServer(); err != nil {
		t.Fatalf("stop the server: %v", err)
	}
	time.Sleep(d) // the fault's length
	if err := c.startServer(); err != nil {
		t.Fatalf("start the server: %v", err)
	}
	t.Logf("server killed for %v while %d long jobs ran", d.Round(time.Millisecond), len(jobs))
}

// tool runs one of the tools and returns its stdout; it fails the test when
// the tool fails.
func (c *chaos) tool(name string, args ...string) string {
	c.t.Helper()
	out, err := c.toolErr(nil, name, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

func (c *chaos) toolErr(stdin []byte, name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Env = c.env
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// supervise keeps the slot's worker running until the test halts.
func (c *chaos) supervise(s *chaosSlot) {
	defer c.done.Done()
	for inc := 1; ; inc++ {
		id := c.ns + "." + s.name + "." + strconv.Itoa(inc)
		stderr, err := os.Create(filepath.Join(c.dir, "workers", id+".log"))
		if err != nil {
			c.t.Error(err)
			return
		}
		cmd := exec.Command(filepath.Join(c.bin, "stolos-exec"), "-a", s.app, "-loop",
			"-wait", chaosWait, "-lease", chaosLease.String(), "-grace", "1s")
		cmd.Env = append(slices.Clip(c.env), "CHAOS_WORKER="+id)
		cmd.Stderr = stderr
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			stderr.Close()
			return
		}
		err = cmd.Start()
		if err == nil {
			s.proc, s.inc = cmd.Process, id
		}
		s.mu.Unlock()
		if err != nil {
			stderr.Close()
			c.t.Errorf("start worker %s: %v", id, err)
			return
		}
		werr := cmd.Wait()
		stderr.Close()
		s.mu.Lock()
		s.proc = nil
		stopping := s.stopping
		s.mu.Unlock()
		if stopping {
			return
		}
		c.mu.Lock()
		_, killed := c.kills[id]
		if !killed {
			c.exits++
		}
		c.mu.Unlock()
		if !killed {
			// It exited by itself: the server is away for a moment
			// (restart), or its lease was lost. Its reaper kills what
			// it ran (a command stopped by SIGKILL writes no end
			// line): its runs end when the last of its processes is
			// gone. Start it again a little later.
			c.t.Logf("worker %s exited: %v", id, werr)
			k := c.gone(id, "exited", time.Now())
			c.mu.Lock()
			c.exited[id] = k
			c.mu.Unlock()
			select {
			case <-c.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// chaosLoop kills a random worker at random moments until the test halts,
// and waits each time until everything the worker had started is gone.
func (c *chaos) chaosLoop() {
	defer c.done.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-time.After(time.Duration(100+c.rng.IntN(500)) * time.Millisecond):
		}
		s := c.slots[c.rng.IntN(len(c.slots))]
		if c.paused.Load() {
			continue
		}
		s.mu.Lock()
		if s.proc == nil || s.stopping {
			s.mu.Unlock()
			continue
		}
		id, at := s.inc, time.Now()
		// Recorded before the kill: the slot looks it up when the
		// process exits.
		c.mu.Lock()
		c.kills[id] = chaosKill{at: at}
		c.mu.Unlock()
		err := s.proc.Signal(syscall.SIGKILL)
		s.mu.Unlock()
		if err != nil { // it had exited already
			c.mu.Lock()
			delete(c.kills, id)
			c.mu.Unlock()
			continue
		}
		k := c.gone(id, "killed", at)
		c.mu.Lock()
		c.kills[id] = k
		c.mu.Unlock()
	}
}

// gone waits until the processes of worker incarnation id, which was
// killed or exited (how) at at, are gone, and fails the test if they
// outlive it by chaosGone. It returns when and until when they were seen.
func (c *chaos) gone(id, how string, at time.Time) chaosKill {
	last, ok := waitGone("CHAOS_WORKER="+id, chaosGone)
	if !ok {
		c.t.Errorf("worker %s %s at %s: its processes still run %v later:%s", id, how, at.Format(time.StampMicro), chaosGone, describeProcs(procsWith("CHAOS_WORKER="+id)))
	}
	return chaosKill{at: at, lastSeen: last}
}

// halt stops the chaos loop and the workers (SIGTERM, then SIGKILL if
// they hang), and waits for them.
func (c *chaos) halt() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	for _, s := range c.slots {
		s.mu.Lock()
		s.stopping = true
		if s.proc != nil {
			s.proc.Signal(syscall.SIGTERM)
		}
		s.mu.Unlock()
	}
	done := make(chan struct{})
	go func() {
		c.done.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(chaosGone):
	}
	c.t.Errorf("workers still running %v after SIGTERM; killing them", chaosGone)
	for _, s := range c.slots {
		s.mu.Lock()
		if s.proc != nil {
			s.proc.Signal(syscall.SIGKILL)
		}
		s.mu.Unlock()
	}
	<-done
}

// waitCompleted polls stolos-state until every job of want is completed,
// restarting the server once a third of them are if restart is set. It
// fails the test when they are not all completed within chaosDeadline, or
// when none completes for chaosStall.
func (c *chaos) waitCompleted(want []chaosJob, restart bool) {
	t := c.t
	var in bytes.Buffer
	for _, j := range want {
		fmt.Fprintf(&in, "%s\t%s\n", j.app, j.id)
	}
	deadline := time.Now().Add(chaosDeadline)
	stall := time.Now().Add(chaosStall)
	restarted := c.stopServer == nil || !restart
	var last string
	done := -1
	for {
		out, err := c.toolErr(in.Bytes(), "stolos-state")
		if err == nil {
			last = out
			n := strings.Count(out, "\tcompleted\t") + strings.Count(out, "\tcompleted\n")
			if n == len(want) {
				return
			}
			if n > done {
				done, stall = n, time.Now().Add(chaosStall)
			}
			if !restarted && n >= len(want)/3 {
				restarted = true
				t0 := time.Now()
				if err := c.stopServer(); err != nil {
					t.Fatalf("stop the server: %v", err)
				}
				if err := c.startServer(); err != nil {
					t.Fatalf("start the server: %v", err)
				}
				c.mu.Lock()
				c.restarts = append(c.restarts, time.Since(t0))
				c.mu.Unlock()
				t.Logf("server restarted (%v) with %d of %d jobs completed", time.Since(t0).Round(time.Millisecond), n, len(want))
			}
		}
		if now := time.Now(); now.After(deadline) || now.After(stall) {
			var stuck []string
			for _, l := range strings.Split(last, "\n") {
				if l != "" && !strings.Contains(l, "\tcompleted") {
					stuck = append(stuck, l)
				}
			}
			if len(stuck) > 20 {
				stuck = append(stuck[:20], "...")
			}
			t.Fatalf("not every job completed within %v, or none for %v (last error: %v); not completed:\n%s", chaosDeadline, chaosStall, err, strings.Join(stuck, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkNoOrphans checks that no process started for a job survives its
// worker: none carries this run's CHAOS_LOG once every worker is gone.
func (c *chaos) checkNoOrphans() {
	marker := "CHAOS_LOG=" + filepath.Join(c.dir, "runs.log")
	if _, ok := waitGone(marker, chaosGone); !ok {
		left := procsWith(marker)
		for _, p := range left {
			syscall.Kill(p, syscall.SIGKILL)
		}
		c.t.Errorf("processes of jobs outlived their workers:%s", describeProcs(left))
	}
}

// checkCounts checks the backend's own counts: every job of want completed,
// nothing else run, nothing queued or claimed.
func (c *chaos) checkCounts(want []chaosJob) {
	per := map[string]int{}
	for _, j := range want {
		per[j.app]++
	}
	for _, a := range c.g.cfg.Apps {
		out := c.tool("stolos-state", "-a", a.Name, "-count")
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Split(l, "\t")
			if len(f) != 3 {
				c.t.Errorf("stolos-state -count: bad line %q", l)
				continue
			}
			n, _ := strconv.Atoi(f[2])
			switch f[1] {
			case "completed":
				if n != per[a.Name] {
					c.t.Errorf("%s: %d completed, want %d", a.Name, n, per[a.Name])
				}
			case "failed", "skipped", "queued", "claimed":
				if n != 0 {
					c.t.Errorf("%s: %d %s, want 0", a.Name, n, f[1])
				}
			}
		}
	}
}

// chaosRun is one run of a job's command, from the log.
type chaosRun struct {
	job        chaosJob
	worker     string // incarnation
	pid        int
	start, end int64  // unix nanoseconds; end 0 while unknown
	how        string // "end" (succeeded), "term" (stopped by SIGTERM), "stopped" (by SIGKILL; its worker went on), "killed" (its worker was), "worker exited" (by itself; its reaper killed the run)
}

func (r *chaosRun) String() string {
	return fmt.Sprintf("%v (pid %d, worker %s, %s..%s, %s)", r.job, r.pid, r.worker, nanoStamp(r.start), nanoStamp(r.end), r.how)
}

func nanoStamp(ns int64) string {
	if ns == 0 {
		return "?"
	}
	return time.Unix(0, ns).Format("15:04:05.000000")
}

// completedRE matches stolos-exec's line for an attempt it completed.
var completedRE = regexp.MustCompile(`^stolos-exec: (\S+) (\S+) attempt \d+: exit 0, completed$`)

// checkRuns checks the guarantees on the log of runs.
func (c *chaos) checkRuns(want []chaosJob, elapsed time.Duration) {
	t := c.t
	runs := c.readRuns()
	byJob := map[chaosJob][]*chaosRun{}
	for _, r := range runs {
		byJob[r.job] = append(byJob[r.job], r)
	}
	// Which worker incarnation says it completed each job.
	completedBy := map[chaosJob][]string{}
	logs, err := filepath.Glob(filepath.Join(c.dir, "workers", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range logs {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		id := strings.TrimSuffix(filepath.Base(p), ".log")
		for _, l := range strings.Split(string(data), "\n") {
			if m := completedRE.FindStringSubmatch(l); m != nil {
				j := chaosJob{m[1], m[2]}
				completedBy[j] = append(completedBy[j], id)
			}
		}
	}

	wanted := map[chaosJob]bool{}
	for _, j := range want {
		wanted[j] = true
	}
	for j := range byJob {
		if !wanted[j] {
			t.Errorf("%v ran but was never asked for, directly or through a descendant", j)
		}
	}
	// completing is the run that completed each job: its last one.
	completing := map[chaosJob]*chaosRun{}
	reruns := 0
	for _, j := range want {
		rs := byJob[j]
		if len(rs) == 0 {
			t.Errorf("%v never ran", j)
			continue
		}
		reruns += len(rs) - 1
		slices.SortFunc(rs, func(a, b *chaosRun) int { return int(a.start - b.start) })
		// One at a time: each run starts after the one before is over.
		for i := 1; i < len(rs); i++ {
			if rs[i].start <= rs[i-1].end {
				t.Errorf("two runs of %v overlap:\n\t%v\n\t%v", j, rs[i-1], rs[i])
			}
		}
		last := rs[len(rs)-1]
		completing[j] = last
		if last.how != "end" {
			t.Errorf("the last run of %v did not succeed: %v", j, last)
		}
		// At most one completion recorded, by the last run (a job is
		// never run again once completed).
		switch by := completedBy[j]; {
		case len(by) > 1:
			t.Errorf("%v completed %d times, by workers %v", j, len(by), by)
		case len(by) == 1 && by[0] != last.worker:
			t.Errorf("%v was completed by worker %s, but its last run is %v", j, by[0], last)
		}
	}
	// Dependencies hold: every run of a job starts after the completing
	// run of each of its parents ended.
	for _, j := range want {
		for _, p := range c.g.parentsOf(t, j) {
			pr := completing[p]
			if pr == nil {
				continue // reported above
			}
			for _, r := range byJob[j] {
				if r.start <= pr.end {
					t.Errorf("%v started before its parent's completing run ended:\n\tparent %v\n\tchild  %v", j, pr, r)
				}
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Logf("%d jobs, %d runs (%d reruns), %d workers killed, %d worker exits, server restarts %v, %v",
		len(want), len(runs), reruns, len(c.kills), c.exits, c.restarts, elapsed.Round(time.Millisecond))
}

// readRuns reads the log of runs. A run with no end line ends when its
// worker was killed, or at the last moment one of its processes was seen.
func (c *chaos) readRuns() []*chaosRun {
	t := c.t
	f, err := os.Open(filepath.Join(c.dir, "runs.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type key struct {
		worker string
		pid    int
		job    chaosJob
	}
	byKey := map[key]*chaosRun{}
	var runs []*chaosRun
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fs := strings.Fields(sc.Text())
		if len(fs) != 6 {
			t.Fatalf("runs.log:%d: bad line %q", n, sc.Text())
		}
		at, err1 := strconv.ParseInt(fs[3], 10, 64)
		pid, err2 := strconv.Atoi(fs[4])
		if err1 != nil || err2 != nil {
			t.Fatalf("runs.log:%d: bad line %q", n, sc.Text())
		}
		k := key{fs[5], pid, chaosJob{fs[1], fs[2]}}
		r := byKey[k]
		switch {
		case fs[0] == "start" && r == nil:
			r = &chaosRun{job: k.job, worker: k.worker, pid: pid, start: at}
			byKey[k] = r
			runs = append(runs, r)
		case fs[0] == "term" && r == nil:
			// A SIGTERM while the start line was being written (its
			// trap runs before the line): the command did nothing.
			r = &chaosRun{job: k.job, worker: k.worker, pid: pid, start: at, end: at, how: "term"}
			byKey[k] = r
			runs = append(runs, r)
		case (fs[0] == "end" || fs[0] == "term") && r != nil:
			// A SIGTERM while the end line is written leaves both: the
			// run did not succeed, and ended at the later one.
			if r.how != "term" {
				r.how = fs[0]
			}
			r.end = max(r.end, at)
		default:
			t.Fatalf("runs.log:%d: unexpected line %q", n, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// A run with no end line whose worker went on to run something else
	// was stopped by SIGKILL (its lease was lost, or the grace after
	// SIGTERM, an eighth of the lease, ran out before its trap wrote the
	// line, as on a loaded machine): it was over when that worker's next
	// run started, since a worker starts nothing until its reaper says the
	// last command's whole tree is gone. That start is the end's upper
	// bound; the overlap checks stay as strict with it.
	next := map[*chaosRun]int64{}
	byWorker := map[string][]*chaosRun{}
	for _, r := range runs {
		byWorker[r.worker] = append(byWorker[r.worker], r)
	}
	for _, rs := range byWorker {
		slices.SortFunc(rs, func(a, b *chaosRun) int { return cmp.Compare(a.start, b.start) })
		for i, r := range rs {
			if r.how == "" && i+1 < len(rs) {
				next[r] = rs[i+1].start
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range runs {
		if r.how != "" {
			continue
		}
		if at := next[r]; at != 0 {
			r.how, r.end = "stopped", at
			continue
		}
		k, ok := c.kills[r.worker]
		r.how = "killed"
		if !ok {
			k, ok = c.exited[r.worker]
			r.how = "worker exited"
		}
		if !ok {
			t.Errorf("a run has no end and its worker was neither killed nor exited: %v", r)
			continue
		}
		r.end = k.at.UnixNano()
		if k.lastSeen.After(k.at) {
			r.end = k.lastSeen.UnixNano()
		}
	}
	return runs
}

// procsWith lists the processes whose environment holds the entry
// NAME=VALUE.
func procsWith(entry string) []int {
	ents, _ := os.ReadDir("/proc")
	want := []byte(entry)
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// waitGone waits until no process has the environment entry, and returns
// the last moment one was seen (zero if none was).
func waitGone(entry string, timeout time.Duration) (lastSeen time.Time, ok bool) {
	deadline := time.Now().Add(timeout)
	for {
		now := time.Now()
		if len(procsWith(entry)) == 0 {
			return lastSeen, true
		}
		lastSeen = now
		if now.After(deadline) {
			return lastSeen, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// describeProcs describes processes for an error message: pid, parent,
// group, state and command line.
func describeProcs(pids []int) string {
	var b strings.Builder
	for _, p := range pids {
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		// stat: pid (comm) state ppid pgrp ...
		st := string(stat)
		if i := strings.LastIndexByte(st, ')'); i >= 0 {
			st = st[i+2:]
		}
		f := strings.Fields(st)
		if len(f) > 2 {
			st = fmt.Sprintf("state %s ppid %s pgrp %s", f[0], f[1], f[2])
		}
		fmt.Fprintf(&b, "\n\tpid %d %s: %s", p, st, strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return b.String()
}
