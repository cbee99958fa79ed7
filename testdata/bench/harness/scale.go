package main

// The scale section of the harness (issue 8): measurements 11 to 13.

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

const (
	millionJobs = 1_000_000 // measurements 11 and 12: jobs of one app
	countRuns   = 5
	chainApps   = 200 // measurement 13
	scaleFill   = 1000
	countLimit  = 50 * time.Millisecond
)

// fill queues n jobs of app solo ("20140101_<i>_x") through lib/store, in
// batches, from several goroutines (the server-side backends take them
// faster so): stolos-submit's own speed is measurement 4.
func fill(n ns, count int) error {
	ctx := context.Background()
	workers := map[string]int{"local": 1, "redis": 4, "zookeeper": 8}[n.kind]
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	per := (count + workers - 1) / workers
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			be, err := n.flags.Open(ctx, io.Discard)
			if err != nil {
				errs <- err
				return
			}
			defer be.Close()
			items := make([]store.SubmitItem, 0, scaleFill)
			for i := w * per; i < min(count, (w+1)*per); i++ {
				items = append(items, store.SubmitItem{Priority: store.DefaultPriority,
					Node: store.Node{Ref: store.Ref{App: "solo", JobID: fmt.Sprintf("20140101_%d_x", i)}}})
				if len(items) == scaleFill || i == min(count, (w+1)*per)-1 {
					if _, err := be.Submit(ctx, items); err != nil {
						errs <- err
						return
					}
					items = items[:0]
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// scaleCount is measurements 11 (stolos-state -count at 1M jobs), 12 (claim
// latency at 1M jobs vs 1k) and the sizing figures of each server (bytes
// per job), on one namespace per backend.
func (h *harness) scaleCount(kinds []string) error {
	note("11, 12: %s jobs of one app queued through lib/store; 11: median of %d `stolos-state -a solo -count` processes; 12: as 6, with %s vs %s queued",
		num(millionJobs), countRuns, num(millionJobs), num(smallQueue))
	for _, k := range kinds {
		before, err := h.serverBytes(k)
		if err != nil {
			return err
		}
		n := h.newNS(k)
		start := time.Now()
		if err := fill(n, millionJobs); err != nil {
			return err
		}
		fmt.Printf("   filled %s jobs [%s] in %s\n", num(millionJobs), k, time.Since(start).Round(time.Second))
		if err := checkCount(n, "solo", store.Absent, millionJobs, millionJobs); err != nil {
			return err
		}
		after, err := h.serverBytes(k)
		if err != nil {
			return err
		}
		if after > 0 {
			h.add(result{"11", "server memory per queued job", k, fmt.Sprintf("%s bytes (%s MB for %s jobs)",
				num(float64(after-before)/millionJobs), num(float64(after-before)/1e6), num(millionJobs)), "documented", "-"})
		}
		var ds []time.Duration
		for range countRuns {
			d, err := run(h.tool(n.env, "stolos-state", "-a", "solo", "-count"), "", nil)
			if err != nil {
				return err
			}
			ds = append(ds, d)
		}
		d := median(ds)
		h.add(result{"11", "stolos-state -count, 1M jobs", k, ms(d), "<= " + ms(countLimit), met(d <= countLimit)})

		small := h.newNS(k)
		if err := fill(small, smallQueue); err != nil {
			return err
		}
		fb, err := h.claimLatency(n)
		if err != nil {
			return err
		}
		fs, err := h.claimLatency(small)
		if err != nil {
			return err
		}
		rp := fb.proc.Seconds() / fs.proc.Seconds()
		h.add(result{"12", "claim latency, process, 1M vs 1k queued", k, fmt.Sprintf("%s vs %s = %.2fx", ms(fb.proc), ms(fs.proc), rp), "<= 1.5x", met(rp <= 1.5)})
		rl := fb.lib.Seconds() / fs.lib.Seconds()
		h.add(result{"12", "claim latency, Go-level, 1M vs 1k queued", k, fmt.Sprintf("%s vs %s = %.2fx", ms(fb.lib), ms(fs.lib), rl), "<= 1.5x", met(rl <= 1.5)})
	}
	return nil
}

var heapUsed = regexp.MustCompile(`used (\d+)K`)

// serverBytes is the memory the backend's server uses for data: Redis's
// used_memory, ZooKeeper's heap after a full collection (jcmd); 0 for the
// local backend.
func (h *harness) serverBytes(kind string) (int64, error) {
	switch kind {
	case "redis":
		out, err := exec.Command("redis-cli", "-h", h.redis.Host(), "-p", strconv.Itoa(h.redis.Port()), "info", "memory").Output()
		if err != nil {
			return 0, fmt.Errorf("redis-cli info memory: %v", err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
				return strconv.ParseInt(v, 10, 64)
			}
		}
		return 0, fmt.Errorf("redis-cli info memory: no used_memory")
	case "zookeeper":
		pids, err := exec.Command("pgrep", "-f", filepath.Join(h.zk.Dir(), "")).Output()
		f := strings.Fields(string(pids))
		if err != nil || len(f) == 0 {
			return 0, fmt.Errorf("the ZooKeeper server's process: %v", err)
		}
		if out, err := exec.Command("jcmd", f[0], "GC.run").CombinedOutput(); err != nil {
			return 0, fmt.Errorf("jcmd GC.run: %v: %s", err, out)
		}
		out, err := exec.Command("jcmd", f[0], "GC.heap_info").CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("jcmd GC.heap_info: %v: %s", err, out)
		}
		var used int64
		for _, m := range heapUsed.FindAllStringSubmatch(string(out), -1) {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			used += v * 1024
		}
		return used, nil
	}
	return 0, nil
}

// chainConfig writes a tasks.json of chainApps apps c0..c199, each job
// "{x}" the child of the same job of the app before, and returns the
// tools' environment on it.
func (h *harness) chainConfig(n ns) ([]string, error) {
	var b strings.Builder
	b.WriteString(`{"c0": {"job_id": "{x}", "bash_cmd": "true"}`)
	for i := 1; i < chainApps; i++ {
		fmt.Fprintf(&b, `, "c%d": {"job_id": "{x}", "bash_cmd": "true", "depends_on": {"app_name": ["c%d"]}}`, i, i-1)
	}
	b.WriteString("}\n")
	path := filepath.Join(h.work, "chain200.json")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return append(n.env, "STOLOS_TASKS_JSON="+path), nil
}

// deepChain is measurement 13: a chain of 200 apps with one job each, run
// by 2 workers, asked for by its last job (bubble-up) against all 200
// queued up front. The time is until the last job is completed (watched
// through lib/store); the workers are then stopped.
func (h *harness) deepChain(kinds []string) error {
	leaf := fmt.Sprintf("c%d", chainApps-1)
	apps := leaf
	for i := range chainApps {
		apps += fmt.Sprintf(" c%d", i)
	}
	// A worker makes passes over the apps, the one asked for first, each
	// `stolos-exec -loop` (which exits when the app's queue is empty); it
	// prints a line per pass.
	worker := fmt.Sprintf(`while :; do echo pass; for a in %s; do stolos-exec -loop -a $a || true; done; done`, apps)
	note("13: %d apps c0..c%d, c(i) 1 needs c(i-1) 1, `true` each; 2 workers, each making passes (`stolos-exec -loop -a APP` for %s then c0..c%d), timed until %s 1 is completed; the job of %s submitted alone (bubble-up) vs all %d submitted up front",
		chainApps, chainApps-1, leaf, chainApps-1, leaf, leaf, chainApps)
	for _, k := range kinds {
		var took [2]time.Duration
		var passes [2]int
		for i, upFront := range []bool{true, false} {
			n := h.newNS(k)
			env, err := h.chainConfig(n)
			if err != nil {
				return err
			}
			ids := []string{leaf}
			if upFront {
				ids = strings.Fields(apps)[1:]
			}
			if _, err := sh(env, "printf '%s\\t1\\n' "+strings.Join(ids, " ")+" | stolos-submit"); err != nil {
				return err
			}
			if took[i], passes[i], err = h.runChain(n, env, worker, store.Ref{App: leaf, JobID: "1"}); err != nil {
				return fmt.Errorf("%s: %v", k, err)
			}
			if _, err := sh(env, fmt.Sprintf("for a in %s; do stolos-state -a $a 1 | grep -q completed; done", apps)); err != nil {
				return fmt.Errorf("%s: not every job of the chain completed: %v", k, err)
			}
		}
		r := took[1].Seconds() / took[0].Seconds()
		h.add(result{"13", "200-app chain, asked by its leaf vs queued up front", k,
			fmt.Sprintf("%s (%d passes) vs %s (%d passes) = %.2fx", took[1].Round(time.Millisecond), passes[1], took[0].Round(time.Millisecond), passes[0], r),
			"<= 1.5x", met(r <= 1.5)})
	}
	return nil
}

// runChain starts 2 workers (worker, a shell script, in env), waits until
// the job last is completed (20 minutes at most), stops them, and returns
// the time and the most passes a worker began.
func (h *harness) runChain(n ns, env []string, worker string, last store.Ref) (time.Duration, int, error) {
	ctx := context.Background()
	be, err := n.flags.Open(ctx, io.Discard)
	if err != nil {
		return 0, 0, err
	}
	defer be.Close()
	var outs [2]lineCounter
	var cmds [2]*exec.Cmd
	start := time.Now()
	for w := range cmds {
		cmd := exec.Command("sh", "-c", worker)
		cmd.Env, cmd.Stdout = env, &outs[w]
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return 0, 0, err
		}
		cmds[w] = cmd
	}
	stop := func() {
		for _, c := range cmds {
			if c != nil {
				syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
				c.Wait()
			}
		}
	}
	defer stop()
	deadline := start.Add(20 * time.Minute)
	for {
		jobs, err := be.Get(ctx, []store.Ref{last})
		if err != nil {
			return 0, 0, err
		}
		if jobs[0].State == store.Completed {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%v not completed after %s", last, time.Since(start).Round(time.Second))
		}
		time.Sleep(20 * time.Millisecond)
	}
	d := time.Since(start)
	stop()
	cmds = [2]*exec.Cmd{}
	return d, max(outs[0].n, outs[1].n), nil
}
