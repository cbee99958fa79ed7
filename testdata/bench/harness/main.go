// Command harness is the end-to-end part of `make bench`: it starts its
// own redis-server and ZooKeeper on free 127.0.0.1 ports, measures the
// stolos tools as real processes (os/exec) on every backend, prints one
// line per figure as it goes and a table at the end (figure, target, met),
// and stops the servers. testdata/bench/run.sh builds the tools and runs it.
//
// Usage:
//
//	harness -bin DIR [-work DIR] [-examples DIR] [-only 1,4,7] [-backends local,redis]
//	harness -bin DIR -serve
//
// With -serve it only starts the servers, prints the environment that
// points the tools at each (for profiling by hand), and waits for SIGINT.
//
// A missed target is reported, not an error: the exit status is 1 only
// when a measurement could not be made (a tool failed, a count was wrong).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stolos-sched/stolos/lib/backend"
	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/redis/redistest"
	"github.com/stolos-sched/stolos/lib/store/zookeeper/zktest"
)

// The sizes of the measurements.
const (
	expandRuns     = 7
	streamRuns     = 5
	parentsRuns    = 50
	submitJobs     = 100_000 // measurement 4; 6 adds as many again
	claimJobs      = 10_000  // measurement 5
	claimers       = 4
	claimBatch     = 100
	latencyProcs   = 30  // measurement 6, stolos-claim processes per queue
	latencyCalls   = 300 // measurement 6, Backend.Claim calls per queue
	smallQueue     = 1_000
	chainJobs      = 2_000 // measurement 7, jobs of A (as many of B)
	chainWorkers   = 2
	exampleApp     = "app4"
	exampleJobID   = "20140601_876_profile"
	exampleTmpl    = "{date}_{client_id}_{collection_name}"
	dates100       = "date=20140101..20140410" // 100 days
	dates20        = "date=20140101..20140120" // 20 days
	clients100     = "client_id=1..100"
	requireServers = "STOLOS_TEST_REQUIRE_SERVERS"
)

// result is one row of the final table.
type result struct {
	num, what, backend, figure, target, met string
}

type harness struct {
	bin, work, examples, benchDir string
	baseEnv                       []string // the environment without STOLOS_*
	redis                         *redistest.Server
	zk                            *zktest.Server
	missing                       map[string]string // backend -> why it is not measured
	seq                           int
	results                       []result
	failed                        bool
}

func main() {
	h := &harness{missing: map[string]string{}}
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.StringVar(&h.bin, "bin", "", "the directory of the built stolos tools")
	fs.StringVar(&h.work, "work", "", "a scratch directory (default: a new temporary one)")
	fs.StringVar(&h.examples, "examples", filepath.Join("testdata", "examples"), "the original's examples")
	only := fs.String("only", "", "comma-separated measurement numbers to run (default all)")
	backends := fs.String("backends", strings.Join(backend.Names, ","), "comma-separated backends to measure")
	serve := fs.Bool("serve", false, "start the servers, print their environment and wait for SIGINT")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if h.bin == "" {
		fmt.Fprintln(os.Stderr, "harness: -bin DIR is required")
		os.Exit(2)
	}
	if *serve {
		*only = "serve"
	}
	os.Exit(h.main(*only, strings.Split(*backends, ",")))
}

func (h *harness) main(only string, backends []string) int {
	var err error
	if h.bin, err = filepath.Abs(h.bin); err != nil {
		return h.fatal(err)
	}
	if h.benchDir, err = filepath.Abs(filepath.Join("testdata", "bench")); err != nil {
		return h.fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h.benchDir, "tasks.json")); err != nil {
		return h.fatal(fmt.Errorf("run from the repository root: %v", err))
	}
	if h.work == "" {
		if h.work, err = os.MkdirTemp("", "stolos-bench"); err != nil {
			return h.fatal(err)
		}
		defer os.RemoveAll(h.work)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STOLOS_") {
			h.baseEnv = append(h.baseEnv, kv)
		}
	}
	want := func(n int) bool {
		return only == "" || slices.Contains(strings.Split(only, ","), strconv.Itoa(n))
	}
	needServers := only == "serve"
	for _, n := range []int{4, 5, 6, 7, 8, 11, 12, 13, 14, 15} {
		needServers = needServers || want(n)
	}

	// Servers are stopped on return and on SIGINT or SIGTERM.
	var stops []func()
	var stopOnce sync.Once
	stopAll := func() {
		stopOnce.Do(func() {
			for _, s := range stops {
				s()
			}
		})
	}
	defer stopAll()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "harness: %v: stopping the servers\n", s)
		stopAll()
		os.Exit(1)
	}()
	if needServers && slices.Contains(backends, "redis") {
		if _, err := exec.LookPath("redis-server"); err != nil {
			h.missing["redis"] = "redis-server not found in PATH"
		} else {
			s, stop, err := redistest.StartMain()
			stops = append(stops, stop)
			if err != nil {
				return h.fatal(fmt.Errorf("redis-server: %v", err))
			}
			h.redis = s
			fmt.Printf("redis-server on %s\n", s.Addr())
		}
	}
	if needServers && slices.Contains(backends, "zookeeper") {
		if (want(11) || want(12)) && os.Getenv(zktest.HeapEnv) == "" {
			os.Setenv(zktest.HeapEnv, "3g") // a million jobs and their queue entries
		}
		s, stop, err := zktest.StartMain()
		stops = append(stops, stop)
		switch {
		case errors.Is(err, zktest.ErrMissing):
			h.missing["zookeeper"] = err.Error()
		case err != nil:
			return h.fatal(fmt.Errorf("zookeeper: %v", err))
		default:
			h.zk = s
			fmt.Printf("zookeeper on %s\n", s.Hosts())
		}
	}
	for b, why := range h.missing {
		if os.Getenv(requireServers) == "1" {
			return h.fatal(fmt.Errorf("%s: %s, and %s=1", b, why, requireServers))
		}
		fmt.Printf("SKIPPING backend %s: %s\n", b, why)
	}
	var kinds []string
	for _, b := range backends {
		if h.missing[b] == "" {
			kinds = append(kinds, b)
		}
	}
	if only == "serve" {
		for _, k := range kinds {
			fmt.Printf("# %s\n", k)
			for _, kv := range h.newNS(k).env[len(h.env()):] {
				fmt.Printf("export %s\n", kv)
			}
		}
		fmt.Println("# serving until SIGINT")
		select {}
	}
	fmt.Printf("machine: %d CPUs, %s/%s; every figure is wall time of real processes unless it says Go-level\n\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)

	start := time.Now()
	loadStart := loadavg()
	steps := []struct {
		n   int
		run func(kinds []string) error
	}{
		{1, func([]string) error { return h.expand() }},
		{2, func([]string) error { return h.stream() }},
		{3, func([]string) error { return h.parentsLatency() }},
		{4, h.submitAndLatency},
		{5, h.claimComplete},
		{7, h.chain},
		{8, h.fanIn},
		{10, func([]string) error { return h.startup() }},
		{11, h.scaleCount}, // and 12
		{13, h.deepChain},
		{14, h.multiApp},
		{15, h.claimPool},
	}
	for _, s := range steps {
		if !want(s.n) && !(s.n == 4 && want(6)) && !(s.n == 11 && want(12)) {
			continue
		}
		if err := s.run(kinds); err != nil {
			fmt.Fprintf(os.Stderr, "harness: measurement %d: %v\n", s.n, err)
			h.failed = true
		}
	}
	h.table(os.Stdout)
	fmt.Printf("\nharness: done in %s; load average at start %s, at end %s (other work on the machine skews every figure)\n",
		time.Since(start).Round(time.Second), loadStart, loadavg())
	if h.failed {
		return 1
	}
	return 0
}

// loadavg returns the 1, 5 and 15 minute load averages, or "?".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if err != nil || len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func (h *harness) fatal(err error) int {
	fmt.Fprintf(os.Stderr, "harness: %v\n", err)
	return 1
}

// add records a row and prints it at once.
func (h *harness) add(r result) {
	h.results = append(h.results, r)
	be := r.backend
	if be != "" {
		be = " [" + be + "]"
	}
	fmt.Printf("%s. %s%s: %s (target %s) %s\n", r.num, r.what, be, r.figure, r.target, r.met)
}

// note prints how a measurement was made.
func note(format string, args ...any) {
	fmt.Printf("   method: "+format+"\n", args...)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// table writes the summary.
func (h *harness) table(w io.Writer) {
	fmt.Fprintln(w, "\n== summary")
	rows := [][]string{{"#", "measurement", "backend", "figure", "target", "met"}}
	for _, r := range h.results {
		rows = append(rows, []string{r.num, r.what, r.backend, r.figure, r.target, r.met})
	}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(c + strings.Repeat(" ", width[i]-len(c)))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// ---- environments and processes

// ns is one backend namespace: a fresh SQLite file, Redis key prefix or
// ZooKeeper chroot, so that measurements do not see each other's jobs.
type ns struct {
	kind  string
	env   []string
	flags backend.Flags
}

func (h *harness) newNS(kind string) ns {
	h.seq++
	tag := fmt.Sprintf("bench%d", h.seq)
	n := ns{kind: kind, flags: backend.Flags{Backend: kind}}
	env := []string{"STOLOS_QUEUE_BACKEND=" + kind}
	switch kind {
	case "local":
		n.flags.LocalPath = filepath.Join(h.work, tag+".db")
		env = append(env, "STOLOS_QB_LOCAL_PATH="+n.flags.LocalPath)
	case "redis":
		n.flags.Redis = cli.RedisFlags{Host: h.redis.Host(), Port: h.redis.Port(), KeyPrefix: tag + ":"}
		env = append(env, "STOLOS_QB_REDIS_HOST="+h.redis.Host(), "STOLOS_QB_REDIS_PORT="+strconv.Itoa(h.redis.Port()),
			"STOLOS_QB_REDIS_KEY_PREFIX="+tag+":")
	case "zookeeper":
		n.flags.ZKHosts = h.zk.Hosts() + "/" + tag
		n.flags.ZKTimeout = 10 * time.Second
		env = append(env, "STOLOS_QB_ZOOKEEPER_HOSTS="+n.flags.ZKHosts)
	}
	n.env = append(h.env(), env...)
	return n
}

// env is the environment of the tools on the bench configuration.
func (h *harness) env() []string {
	return append(slices.Clip(h.baseEnv),
		"PATH="+h.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"STOLOS_TASKS_JSON="+filepath.Join(h.benchDir, "tasks.json"),
		"STOLOS_JOB_ID_VALIDATIONS="+filepath.Join(h.benchDir, "validations.json"),
		"STOLOS_LOG_DIR="+filepath.Join(h.work, "log"), // logs on, as by default, not in $HOME
		"STOLOS_Q=true")
}

// tool returns a command running a stolos tool by its full path.
func (h *harness) tool(env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(h.bin, name), args...)
	cmd.Env = env
	return cmd
}

// run runs cmd with stdin from the file in (if not ""), stdout to out (nil
// discards), and returns its wall time; a failure carries its stderr.
func run(cmd *exec.Cmd, in string, out io.Writer) (time.Duration, error) {
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	if out == nil {
		// A real file, not a pipe: what `> /dev/null` gives a shell command.
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return 0, err
		}
		defer null.Close()
		out = null
	}
	var stderr bytes.Buffer
	cmd.Stdout = out
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return d, nil
}

// sh runs a shell script (a pipeline) in env and returns its wall time.
func sh(env []string, script string) (time.Duration, error) {
	cmd := exec.Command("sh", "-c", "set -e; "+script)
	cmd.Env = env
	return run(cmd, "", nil)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func perSec(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// num formats n with thousands separators.
func num(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	var b []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// lineCounter counts the lines written to it.
type lineCounter struct{ n int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

// ---- 1, 2, 3: the graph tools

func (h *harness) expand() error {
	args := []string{"-a", "solo", dates100, clients100, "collection_name=1..100"}
	const n = 1_000_000
	var lc lineCounter
	dpipe, err := run(h.tool(h.env(), "stolos-expand", args...), "", &lc)
	if err != nil {
		return err
	}
	if lc.n != n {
		return fmt.Errorf("stolos-expand wrote %d lines, want %d", lc.n, n)
	}
	var exp, seq []time.Duration
	for range expandRuns {
		d, err := run(h.tool(h.env(), "stolos-expand", args...), "", nil)
		if err != nil {
			return err
		}
		exp = append(exp, d)
		cmd := exec.Command("seq", "-f", "20140101_%g_profile", strconv.Itoa(n))
		if d, err = run(cmd, "", nil); err != nil {
			return err
		}
		seq = append(seq, d)
	}
	e, s := median(exp), median(seq)
	note("stolos-expand %s > /dev/null (1,000,000 ids of {date}_{client_id}_{collection_name}) and seq -f 20140101_%%g_profile 1000000 > /dev/null, alternated, median of %d runs each: expand %s, seq %s (expand into a pipe, read and counted: %s)",
		strings.Join(args, " "), expandRuns, ms(e), ms(s), ms(dpipe))
	rate := perSec(n, e)
	h.add(result{"1", "stolos-expand to /dev/null", "", num(rate) + " job_ids/s", ">= 2,500,000", met(rate >= 2_500_000)})
	ratio := e.Seconds() / s.Seconds()
	h.add(result{"1", "stolos-expand time / seq -f time", "", fmt.Sprintf("%.2fx", ratio), "<= 2x", met(ratio <= 2)})
	return nil
}

func (h *harness) stream() error {
	ids := filepath.Join(h.work, "ids200k")
	f, err := os.Create(ids)
	if err != nil {
		return err
	}
	_, err = run(h.tool(h.env(), "stolos-expand", "-a", "a", dates100, clients100, "collection_name=1..20"), "", f)
	f.Close()
	if err != nil {
		return err
	}
	const n = 200_000
	for _, c := range []struct{ tool, app string }{{"stolos-parents", "b"}, {"stolos-children", "a"}} {
		var lc lineCounter
		if _, err := run(h.tool(h.env(), c.tool, "-a", c.app), ids, &lc); err != nil {
			return err
		}
		if lc.n != n {
			return fmt.Errorf("%s -a %s wrote %d lines for %d, want as many", c.tool, c.app, lc.n, n)
		}
		var ds []time.Duration
		for range streamRuns {
			d, err := run(h.tool(h.env(), c.tool, "-a", c.app), ids, nil)
			if err != nil {
				return err
			}
			ds = append(ds, d)
		}
		note("%s -a %s < 200,000 job ids (b depends 1:1 on a) > /dev/null, median of %d runs: %s", c.tool, c.app, streamRuns, ms(median(ds)))
		rate := perSec(n, median(ds))
		h.add(result{"2", c.tool + " streaming stdin", "", num(rate) + " lines/s", ">= 200,000", met(rate >= 200_000)})
	}
	return nil
}

func (h *harness) parentsLatency() error {
	if _, err := os.Stat(filepath.Join(h.examples, "tasks.json")); err != nil {
		return fmt.Errorf("examples missing: %v", err)
	}
	env := append(slices.Clip(h.baseEnv),
		"STOLOS_TASKS_JSON="+filepath.Join(h.examples, "tasks.json"),
		"STOLOS_JOB_ID_VALIDATIONS="+filepath.Join(h.examples, "validations.json"),
		"STOLOS_JOB_ID_DEFAULT_TEMPLATE="+exampleTmpl)
	var out bytes.Buffer
	if _, err := run(h.tool(env, "stolos-parents", "-a", exampleApp, exampleJobID), "", &out); err != nil {
		return err
	}
	if out.Len() == 0 {
		return fmt.Errorf("stolos-parents -a %s %s wrote nothing", exampleApp, exampleJobID)
	}
	var ds []time.Duration
	for range parentsRuns {
		d, err := run(h.tool(env, "stolos-parents", "-a", exampleApp, exampleJobID), "", nil)
		if err != nil {
			return err
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	m := median(ds)
	note("stolos-parents -a %s %s on the examples (%d parents), fork+exec+wait from Go, %d runs: min %s, median %s, p90 %s",
		exampleApp, exampleJobID, bytes.Count(out.Bytes(), []byte{'\n'}), parentsRuns, ms(ds[0]), ms(m), ms(ds[len(ds)*9/10]))
	h.add(result{"3", "stolos-parents -a app4 one job, process wall time", "", ms(m), "<= 5 ms", met(m <= 5*time.Millisecond)})
	return nil
}

// ---- 4, 5, 6, 7: the stateful tools on each backend

// counts reads an app's counts through lib/store.
func counts(n ns, app string) (store.Counts, error) {
	ctx := context.Background()
	be, err := n.flags.Open(ctx, io.Discard)
	if err != nil {
		return store.Counts{}, err
	}
	defer be.Close()
	return be.Count(ctx, app)
}

func checkCount(n ns, app string, st store.State, queued, want int) error {
	c, err := counts(n, app)
	if err != nil {
		return err
	}
	got := c.Queued
	if st != store.Absent {
		got = c.States[st]
	}
	if got != want || (st == store.Absent && c.States[store.Pending] != queued) {
		return fmt.Errorf("%s %s: counts %+v, want %d %s", n.kind, app, c, want, cmp(st == store.Absent, "queued", string(st)))
	}
	return nil
}

func cmp(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}

// submit queues the ids stolos-expand makes of specs, through stolos-submit
// (one pipeline, timed), and checks that the app then has queued jobs,
// all of them pending ones (sh has no pipefail: a failing stolos-expand
// would go unnoticed otherwise).
func submit(n ns, app string, queued int, specs ...string) (time.Duration, error) {
	d, err := sh(n.env, "stolos-expand -a "+app+" "+strings.Join(specs, " ")+" | stolos-submit -a "+app)
	if err != nil {
		return d, err
	}
	return d, checkCount(n, app, store.Absent, queued, queued)
}

var submitTargets = map[string]float64{"local": 20_000, "redis": 20_000, "zookeeper": 3_000}

// submitAndLatency is measurement 4, and 6 on the same namespace once it
// holds twice as many jobs.
func (h *harness) submitAndLatency(kinds []string) error {
	specs := []string{dates100, clients100, "collection_name=1..10"}
	note("stolos-expand -a solo %s | stolos-submit -a solo (%s jobs, one pipeline), wall time; the queue count is checked after", strings.Join(specs, " "), num(submitJobs))
	for _, k := range kinds {
		n := h.newNS(k)
		d, err := submit(n, "solo", submitJobs, specs...)
		if err != nil {
			return err
		}
		rate := perSec(submitJobs, d)
		h.add(result{"4", "expand | submit 100,000 jobs", k, num(rate) + " jobs/s", ">= " + num(submitTargets[k]), met(rate >= submitTargets[k])})
		if err := h.latency(n); err != nil {
			return err
		}
	}
	return nil
}

// latency is measurement 6: big is a namespace holding submitJobs queued
// jobs of solo; it gets as many more, and a new namespace gets smallQueue.
func (h *harness) latency(big ns) error {
	if _, err := submit(big, "solo", 2*submitJobs, dates100, clients100, "collection_name=11..20"); err != nil {
		return err
	}
	small := h.newNS(big.kind)
	if _, err := submit(small, "solo", smallQueue, "date=20140101..20140110", clients100, "collection_name=x"); err != nil {
		return err
	}
	fb, err := h.claimLatency(big)
	if err != nil {
		return err
	}
	fs, err := h.claimLatency(small)
	if err != nil {
		return err
	}
	k := big.kind
	note("6 [%s]: median of %d `stolos-claim -a solo` processes, and Go-level median of %d Backend.Claim(N=1) calls on one open backend; queue of %s vs %s jobs",
		k, latencyProcs, latencyCalls, num(2*submitJobs), num(smallQueue))
	rp := fb.proc.Seconds() / fs.proc.Seconds()
	h.add(result{"6", "claim latency, process, 200k vs 1k queued", k, fmt.Sprintf("%s vs %s = %.2fx", ms(fb.proc), ms(fs.proc), rp), "<= 2x", met(rp <= 2)})
	rl := fb.lib.Seconds() / fs.lib.Seconds()
	h.add(result{"6", "claim latency, Go-level, 200k vs 1k queued", k, fmt.Sprintf("%s vs %s = %.2fx", ms(fb.lib), ms(fs.lib), rl), "<= 2x", met(rl <= 2)})
	return nil
}

// latencyFig is a claim latency: the median of stolos-claim processes, and
// of Backend.Claim calls.
type latencyFig struct{ proc, lib time.Duration }

// claimLatency measures claims of solo jobs in n (which it takes).
func (h *harness) claimLatency(n ns) (latencyFig, error) {
	var f latencyFig
	var ds []time.Duration
	for range latencyProcs {
		d, err := run(h.tool(n.env, "stolos-claim", "-a", "solo"), "", nil)
		if err != nil {
			return f, err
		}
		ds = append(ds, d)
	}
	f.proc = median(ds)
	ctx := context.Background()
	be, err := n.flags.Open(ctx, io.Discard)
	if err != nil {
		return f, err
	}
	defer be.Close()
	ds = ds[:0]
	for i := range latencyCalls + 1 {
		start := time.Now()
		r, err := be.Claim(ctx, store.ClaimRequest{App: "solo", Owner: "bench", N: 1, Lease: time.Hour})
		if err != nil {
			return f, err
		}
		if len(r.Leases) != 1 {
			return f, errors.New("claim: nothing claimed")
		}
		if i > 0 { // the first call warms the connection
			ds = append(ds, time.Since(start))
		}
	}
	f.lib = median(ds)
	return f, nil
}

var claimTargets = map[string]float64{"local": 2_000, "redis": 5_000, "zookeeper": 1_000}

// claimComplete is measurement 5.
func (h *harness) claimComplete(kinds []string) error {
	note("%d concurrent loops of `stolos-claim -a solo -n %d | stolos-state -set completed -a solo` (real processes, piped), each until claim exits 1; %s queued jobs of an app without children; all completed is checked after",
		claimers, claimBatch, num(claimJobs))
	for _, k := range kinds {
		n := h.newNS(k)
		if _, err := submit(n, "solo", claimJobs, dates100, clients100, "collection_name=x"); err != nil {
			return err
		}
		start := time.Now()
		errs := make(chan error, claimers)
		for range claimers {
			go func() { errs <- h.claimLoop(n) }()
		}
		var first error
		for range claimers {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		d := time.Since(start)
		if first != nil {
			return first
		}
		if err := checkCount(n, "solo", store.Completed, 0, claimJobs); err != nil {
			return err
		}
		rate := perSec(claimJobs, d)
		h.add(result{"5", "claim + complete, 4 claimers", k, num(rate) + " jobs/s", ">= " + num(claimTargets[k]), met(rate >= claimTargets[k])})
	}
	return nil
}

// claimLoop runs stolos-claim | stolos-state -set completed until claim
// finds nothing.
func (h *harness) claimLoop(n ns) error {
	for {
		claim := h.tool(n.env, "stolos-claim", "-a", "solo", "-n", strconv.Itoa(claimBatch))
		set := h.tool(n.env, "stolos-state", "-set", "completed", "-a", "solo")
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		var cerr, serr bytes.Buffer
		claim.Stdout, claim.Stderr = w, &cerr
		set.Stdin, set.Stdout, set.Stderr = r, io.Discard, &serr
		if err := claim.Start(); err != nil {
			return err
		}
		if err := set.Start(); err != nil {
			return err
		}
		w.Close()
		r.Close()
		claimErr := claim.Wait()
		setErr := set.Wait()
		var ee *exec.ExitError
		if errors.As(claimErr, &ee) && ee.ExitCode() == 1 {
			return nil // nothing claimable
		}
		if claimErr != nil {
			return fmt.Errorf("stolos-claim: %v: %s", claimErr, cerr.String())
		}
		if setErr != nil {
			return fmt.Errorf("stolos-state -set completed: %v: %s", setErr, serr.String())
		}
	}
}

var chainTargets = map[string]float64{"local": 0.5, "redis": 0.5, "zookeeper": 0.25}

// chain is measurement 7.
func (h *harness) chain(kinds []string) error {
	ids := filepath.Join(h.work, "ids4000")
	var buf bytes.Buffer
	for _, app := range []string{"a", "b"} {
		if _, err := run(h.tool(h.env(), "stolos-expand", "-a", app, dates20, clients100, "collection_name=x"), "", &buf); err != nil {
			return err
		}
	}
	if err := os.WriteFile(ids, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if c := bytes.Count(buf.Bytes(), []byte{'\n'}); c != 2*chainJobs {
		return fmt.Errorf("%d ids for xargs, want %d", c, 2*chainJobs)
	}
	note("submit %s jobs of a (b depends 1:1 on a, both run `true`); %d workers, each `stolos-exec -loop -a a; stolos-exec -loop -a b`, until all %s are completed (checked); against `xargs -P %d -n 1 sh -c true` over the same %s job ids, measured just before and just after (mean of the two)",
		num(chainJobs), chainWorkers, num(2*chainJobs), chainWorkers, num(2*chainJobs))
	xargs := func() (time.Duration, error) {
		return run(exec.Command("xargs", "-P", strconv.Itoa(chainWorkers), "-n", "1", "sh", "-c", "true"), ids, nil)
	}
	for _, k := range kinds {
		before, err := xargs()
		if err != nil {
			return err
		}
		n := h.newNS(k)
		if _, err := submit(n, "a", chainJobs, dates20, clients100, "collection_name=x"); err != nil {
			return err
		}
		start := time.Now()
		errs := make(chan error, chainWorkers)
		for range chainWorkers {
			go func() {
				_, err := sh(n.env, "stolos-exec -loop -a a; stolos-exec -loop -a b")
				errs <- err
			}()
		}
		var first error
		for range chainWorkers {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		d := time.Since(start)
		if first != nil {
			return first
		}
		for _, app := range []string{"a", "b"} {
			if err := checkCount(n, app, store.Completed, 0, chainJobs); err != nil {
				return err
			}
		}
		after, err := xargs()
		if err != nil {
			return err
		}
		rs, rx := perSec(2*chainJobs, d), perSec(2*chainJobs, (before+after)/2)
		ratio := rs / rx
		h.add(result{"7", "chain a->b, 2 stolos-exec -loop workers", k,
			fmt.Sprintf("%s jobs/s vs xargs %s/s = %.2f", num(rs), num(rx), ratio), ">= " + strconv.FormatFloat(chainTargets[k], 'f', -1, 64), met(ratio >= chainTargets[k])})
	}
	return nil
}
