package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Measurement 8, the scale of bubble-down (issue 8 items 1 and 2), on the
// apps of testdata/bench/scale.json (a file of its own, so that its wide
// autofill ranges do not weigh on the other measurements' start-up).
const (
	faninWide    = 10_000
	faninNarrow  = 100
	faninWorkers = 2
	fanOut       = 100_000
)

// fanIn is measurement 8: the cost of one parent's completion at a fan-in
// of 100 and of 10,000 (Redis: commands the server ran, scripts' included,
// from INFO commandstats; ZooKeeper: packets the server received, from
// mntr; and wall time), the whole fan-in of 10,000
// against as many independent jobs, and one completion with 100,000
// children (Redis: the longest script, from SLOWLOG).
func (h *harness) fanIn(kinds []string) error {
	note("per backend: submit the %s (then %s) parents of one child (\"n\": \"all\"), run %d `stolos-exec -loop` workers until all are completed and the child is queued (checked); per completion: wall time, and the commands the Redis server ran (INFO commandstats, scripts' commands included) or the packets the ZooKeeper server received (mntr); then %s jobs with no child, the same way; then one job with %s children (stolos-exec of it, the children counted; Redis: the longest script in SLOWLOG)",
		num(faninNarrow), num(faninWide), faninWorkers, num(faninWide), num(fanOut))
	for _, k := range kinds {
		type run struct {
			d   time.Duration
			ops float64 // per job: Redis commands, ZooKeeper packets
		}
		runs := map[string]run{}
		for _, app := range []string{"fin100", "fin10000", "ind"} {
			n := faninNarrow
			if app != "fin100" {
				n = faninWide
			}
			ns := h.scaleNS(k)
			if _, err := submit(ns, app, n, "date=20240101", "n=0.."+strconv.Itoa(n-1)); err != nil {
				return err
			}
			ops0, err := h.serverOps(k)
			if err != nil {
				return err
			}
			start := time.Now()
			errs := make(chan error, faninWorkers)
			for range faninWorkers {
				go func() {
					_, err := sh(ns.env, "stolos-exec -loop -a "+app)
					errs <- err
				}()
			}
			var first error
			for range faninWorkers {
				if err := <-errs; err != nil && first == nil {
					first = err
				}
			}
			d := time.Since(start)
			if first != nil {
				return first
			}
			ops1, err := h.serverOps(k)
			if err != nil {
				return err
			}
			if err := checkCount(ns, app, store.Completed, 0, n); err != nil {
				return err
			}
			if app != "ind" {
				if err := checkCount(ns, strings.Replace(app, "fin", "fan", 1), store.Absent, 1, 1); err != nil {
					return err
				}
			}
			runs[app] = run{d / time.Duration(n), float64(ops1-ops0) / float64(n)}
		}
		narrow, wide, ind := runs["fin100"], runs["fin10000"], runs["ind"]
		if unit := serverUnit[k]; unit != "" {
			r := wide.ops / narrow.ops
			h.add(result{"8a", "fan-in: " + unit + " per parent completion, N=10,000 vs N=100", k,
				fmt.Sprintf("%.1f vs %.1f = %.2f (independent jobs: %.1f)", wide.ops, narrow.ops, r, ind.ops), "<= 1.5", met(r <= 1.5)})
		}
		r := float64(wide.d) / float64(narrow.d)
		h.add(result{"8a", "fan-in: wall time per parent completion, N=10,000 vs N=100", k,
			fmt.Sprintf("%s vs %s = %.2f", ms(wide.d), ms(narrow.d), r), "<= 1.5", met(r <= 1.5)})
		r = float64(wide.d) / float64(ind.d)
		h.add(result{"8b", "fan-in of 10,000 vs 10,000 independent jobs, 2 workers", k,
			fmt.Sprintf("%s vs %s = %.2f", (wide.d * faninWide).Round(time.Millisecond), (ind.d * faninWide).Round(time.Millisecond), r), "<= 1.5", met(r <= 1.5)})

		ns := h.scaleNS(k)
		if _, err := submit(ns, "fo", 1, "date=20240101"); err != nil {
			return err
		}
		// Commands run by scripts are logged too: a threshold of 0 would
		// log every one of them and slow the scripts down.
		if err := h.redisCLI(k, "CONFIG", "SET", "slowlog-log-slower-than", "1000"); err != nil {
			return err
		}
		if err := h.redisCLI(k, "CONFIG", "SET", "slowlog-max-len", "100000"); err != nil {
			return err
		}
		if err := h.redisCLI(k, "SLOWLOG", "RESET"); err != nil {
			return err
		}
		calls0, usec0, err := h.redisScripts(k)
		if err != nil {
			return err
		}
		d, err := sh(ns.env, "stolos-exec -a fo 20240101")
		if err != nil {
			return err
		}
		calls1, usec1, err := h.redisScripts(k)
		if err != nil {
			return err
		}
		longest, err := h.longestScript(k)
		if err != nil {
			return err
		}
		if err := checkCount(ns, "foc", store.Absent, fanOut, fanOut); err != nil {
			return err
		}
		fig := fmt.Sprintf("%s children queued in %s", num(fanOut), d.Round(time.Millisecond))
		target, ok := "done", true
		if k == "redis" {
			fig += fmt.Sprintf(", longest script %s (none over 1 ms if 0), %d scripts of %s on average",
				ms(longest), calls1-calls0, ms(time.Duration((usec1-usec0)/max(calls1-calls0, 1))*time.Microsecond))
			target, ok = "longest script <= 50 ms", longest <= 50*time.Millisecond
		}
		h.add(result{"8c", "fan-out of 100,000 from one completion", k, fig, target, met(ok)})
	}
	return nil
}

// scaleNS is a new namespace on the configuration of scale.json.
func (h *harness) scaleNS(kind string) ns {
	n := h.newNS(kind)
	n.env = append(n.env, "STOLOS_TASKS_JSON="+filepath.Join(h.benchDir, "scale.json"))
	return n
}

// redisCLI runs redis-cli on the harness's server (nothing for other
// backends).
func (h *harness) redisCLI(kind string, args ...string) error {
	_, err := h.redisOut(kind, args...)
	return err
}

func (h *harness) redisOut(kind string, args ...string) (string, error) {
	if kind != "redis" {
		return "", nil
	}
	var out bytes.Buffer
	cmd := exec.Command("redis-cli", append([]string{"-h", h.redis.Host(), "-p", strconv.Itoa(h.redis.Port())}, args...)...)
	if _, err := run(cmd, "", &out); err != nil {
		return "", err
	}
	return out.String(), nil
}

// serverUnit names what serverOps counts, per backend.
var serverUnit = map[string]string{"redis": "commands", "zookeeper": "packets"}

// serverOps is how much the server did: on Redis the commands it has run
// (scripts' commands included), from INFO commandstats; on ZooKeeper the
// packets it has received, from mntr; 0 for local.
func (h *harness) serverOps(kind string) (int64, error) {
	if kind == "zookeeper" {
		out, err := h.zk.FourLetter("mntr", 10*time.Second)
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(line, "zk_packets_received\t"); ok {
				return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			}
		}
		return 0, fmt.Errorf("mntr: no zk_packets_received in %q", out)
	}
	out, err := h.redisOut(kind, "INFO", "commandstats")
	if err != nil {
		return 0, err
	}
	var total int64
	for _, line := range strings.Split(out, "\n") {
		// cmdstat_hget:calls=12,usec=...
		_, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || strings.HasPrefix(line, "cmdstat_info:") {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("commandstats line %q: %v", line, err)
		}
		total += n
	}
	return total, nil
}

// redisScripts is the number of scripts (EVALSHA and EVAL) the Redis server
// has run, and their total time in µs, from INFO commandstats.
func (h *harness) redisScripts(kind string) (calls, usec int64, err error) {
	out, err := h.redisOut(kind, "INFO", "commandstats")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "cmdstat_evalsha:") && !strings.HasPrefix(line, "cmdstat_eval:") {
			continue
		}
		_, rest, _ := strings.Cut(line, ":")
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				calls += n
			case "usec":
				usec += n
			}
		}
	}
	return calls, usec, nil
}

// longestScript is the longest EVAL or EVALSHA in SLOWLOG (0 for other
// backends).
func (h *harness) longestScript(kind string) (time.Duration, error) {
	out, err := h.redisOut(kind, "--no-raw", "SLOWLOG", "GET", "100000")
	if err != nil {
		return 0, err
	}
	// Each entry is id, time, duration in µs, then the command's words:
	//	   3) (integer) 29
	//	   4) 1) "evalsha"
	var longest time.Duration
	lines := strings.Split(out, "\n")
	for i := 0; i+1 < len(lines); i++ {
		us, ok := strings.CutPrefix(strings.Join(strings.Fields(lines[i]), " "), "3) (integer) ")
		next := strings.ToLower(strings.Join(strings.Fields(lines[i+1]), " "))
		if !ok || !strings.HasPrefix(next, "4) 1) \"eval") {
			continue
		}
		n, err := strconv.ParseInt(us, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("slowlog line %q: %v", lines[i], err)
		}
		longest = max(longest, time.Duration(n)*time.Microsecond)
	}
	return longest, nil
}
