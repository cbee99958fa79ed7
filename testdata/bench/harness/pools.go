package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// poolRounds is how many times each side of measurements 14 and 15 runs,
// the two sides in turn, so that drift of the machine's speed hits both
// alike.
const poolRounds = 3

// poolWorkers is the number of workers of measurement 15, each side.
const poolWorkers = 4

// side is one way of running the same work: a shell command per worker.
type side struct {
	name   string
	worker string
	n      int // workers
}

// sideBySide submits jobs of app (count each of apps) to a fresh namespace
// per run, runs each side's workers, checks that every job of apps is
// completed, and returns each side's total time over poolRounds rounds.
func (h *harness) sideBySide(kind string, submit string, apps []string, count int, sides []side) ([]time.Duration, error) {
	total := make([]time.Duration, len(sides))
	for range poolRounds {
		for i, s := range sides {
			n := h.newNS(kind)
			if _, err := sh(n.env, submit); err != nil {
				return nil, err
			}
			start := time.Now()
			errs := make(chan error, s.n)
			for range s.n {
				go func() {
					_, err := sh(n.env, s.worker)
					errs <- err
				}()
			}
			var first error
			for range s.n {
				if err := <-errs; err != nil && first == nil {
					first = err
				}
			}
			total[i] += time.Since(start)
			if first != nil {
				return nil, fmt.Errorf("%s: %v", s.name, first)
			}
			for _, app := range apps {
				if err := checkCount(n, app, store.Completed, 0, count); err != nil {
					return nil, fmt.Errorf("%s: %v", s.name, err)
				}
			}
		}
	}
	return total, nil
}

// ---- 14: one worker for several apps, against one per app

// multiApp is measurement 14: the 2,000-job chain a -> b of measurement 7
// run by 2 workers each `stolos-exec -loop -a a,b` against 2 workers each
// `stolos-exec -loop -a a; stolos-exec -loop -a b`.
func (h *harness) multiApp(kinds []string) error {
	submit := "stolos-expand -a a " + dates20 + " " + clients100 + " collection_name=x | stolos-submit -a a"
	sides := []side{
		{"per-app", "stolos-exec -loop -a a; stolos-exec -loop -a b", chainWorkers},
		{"multi-app", "stolos-exec -loop -a a,b", chainWorkers},
	}
	note("14: the chain of 7 (%s jobs of a, b depends 1:1 on a, `true` each); %d workers each `%s` against %d each `%s`, %d rounds of each in turn, fresh namespaces, all %s completed checked",
		num(chainJobs), chainWorkers, sides[1].worker, chainWorkers, sides[0].worker, poolRounds, num(2*chainJobs))
	for _, k := range kinds {
		load := loadavg()
		t, err := h.sideBySide(k, submit, []string{"a", "b"}, chainJobs, sides)
		if err != nil {
			return fmt.Errorf("%s: %v", k, err)
		}
		per, multi := perSec(2*chainJobs*poolRounds, t[0]), perSec(2*chainJobs*poolRounds, t[1])
		ratio := multi / per
		h.add(result{"14", "multi-app worker vs per-app workers, chain a->b", k,
			fmt.Sprintf("%s jobs/s vs %s/s = %.2f (load %s)", num(multi), num(per), ratio, load), ">= 0.95", met(ratio >= 0.95)})
	}
	return nil
}

// ---- 15: the claim-and-xargs pool, against as many -loop workers

// poolBatch is the job ids xargs gives each stolos-exec of the pool
// recipe: stolos-claim's 100 split among the 4 workers.
const poolBatch = 25

// claimPool is measurement 15: 2,000 jobs of solo run by the pool recipe,
// `stolos-claim -a solo -n 100 | xargs -P 4 -n 25 stolos-exec -a solo`
// until stolos-claim finds none, against 4 `stolos-exec -loop -a solo`
// workers. The same pool with a process per job (`-n 1`) is measured
// beside them, with its floor: `xargs -P 4 -n 1` starting a stolos-exec
// that does nothing (-version) for each of 2,000 ids.
func (h *harness) claimPool(kinds []string) error {
	submit := "stolos-expand -a solo " + dates20 + " " + clients100 + " collection_name=x | stolos-submit -a solo"
	p := strconv.Itoa(poolWorkers)
	pool := func(n int) string {
		// The pipe, with stolos-claim's exit status kept (sh has no
		// pipefail): 1 is "nothing left".
		return `f=$(mktemp); trap 'rm -f "$f"' EXIT; while :; do s=0; stolos-claim -a solo -n 100 > "$f" || s=$?; ` +
			`[ $s = 1 ] && break; [ $s = 0 ] || exit $s; xargs -P ` + p + ` -n ` + strconv.Itoa(n) + ` stolos-exec -a solo < "$f"; done`
	}
	sides := []side{
		{"-loop", "stolos-exec -loop -a solo", poolWorkers},
		{"claim | xargs -n 25", pool(poolBatch), 1},
		{"claim | xargs -n 1", pool(1), 1},
	}
	note("15: %s jobs of solo (`true`); `stolos-claim -a solo -n 100 | xargs -P %d -n %d stolos-exec -a solo` until stolos-claim exits 1, against %d workers `%s`, and the same pool with `-n 1`, %d rounds of each in turn, fresh namespaces, all completed checked; the floor of `-n 1` is `xargs -P %d -n 1 stolos-exec -version` over %s ids (a process per job that does nothing)",
		num(chainJobs), poolWorkers, poolBatch, poolWorkers, sides[0].worker, poolRounds, poolWorkers, num(chainJobs))
	for _, k := range kinds {
		load := loadavg()
		t, err := h.sideBySide(k, submit, []string{"solo"}, chainJobs, sides)
		if err != nil {
			return fmt.Errorf("%s: %v", k, err)
		}
		var floor time.Duration
		for range poolRounds {
			d, err := sh(h.env(), "seq "+strconv.Itoa(chainJobs)+" | xargs -P "+p+" -n 1 stolos-exec -version > /dev/null")
			if err != nil {
				return fmt.Errorf("floor: %v", err)
			}
			floor += d
		}
		ratio := t[1].Seconds() / t[0].Seconds()
		h.add(result{"15", "claim | xargs -P 4 -n 25 stolos-exec vs 4 -loop workers, time", k,
			fmt.Sprintf("%s vs %s = %.2fx (load %s)", ms(t[1]/poolRounds), ms(t[0]/poolRounds), ratio, load), "<= 2x", met(ratio <= 2)})
		h.add(result{"15", "the same with -n 1 (a process per job), and its floor", k,
			fmt.Sprintf("%s = %.2fx; floor %s = %.2fx", ms(t[2]/poolRounds), t[2].Seconds()/t[0].Seconds(), ms(floor/poolRounds), floor.Seconds()/t[0].Seconds()), "(none)", "-"})
	}
	return nil
}
