package exec

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/stolos-sched/stolos/lib/cli"
)

// ProcEnv names a directory read instead of /proc for the load average
// (loadavg) and the free memory (meminfo): a test hook.
const ProcEnv = "STOLOS_TEST_PROC"

// overloadPoll is how often an overloaded machine is looked at again.
const overloadPoll = time.Second

// guard is the overload guard of -max-load and -min-free-mem: no job is
// taken (claimed, or a named one acquired) while the machine's load per
// core is over maxLoad or its available memory under minFree. It is said
// once when the machine becomes overloaded and once when it is not any
// more.
type guard struct {
	maxLoad float64 // per core; 0: no limit
	minFree size    // bytes; 0: no limit
	proc    string  // where loadavg and meminfo are
	cpus    int
	over    bool // the last look found the machine overloaded
	failed  bool // the last look could not read the figures (said once)
}

// on reports whether the guard has anything to check (a nil guard has not).
func (g *guard) on() bool { return g != nil && (g.maxLoad > 0 || g.minFree > 0) }

// look returns why the machine is overloaded ("" if it is not), and the
// figures it read (for the note when it no longer is).
func (g *guard) look() (why, figures string, err error) {
	var whys, figs []string
	if g.maxLoad > 0 {
		load, err := readLoad(filepath.Join(g.proc, "loadavg"))
		if err != nil {
			return "", "", err
		}
		per := load / float64(g.cpus)
		figs = append(figs, fmt.Sprintf("load %.2f per core", per))
		if per > g.maxLoad {
			whys = append(whys, fmt.Sprintf("load %.2f per core (%.2f on %d cores) is over -max-load %s", per, load, g.cpus, strconv.FormatFloat(g.maxLoad, 'f', -1, 64)))
		}
	}
	if g.minFree > 0 {
		free, err := readAvailable(filepath.Join(g.proc, "meminfo"))
		if err != nil {
			return "", "", err
		}
		figs = append(figs, "free memory "+free.String())
		if free < g.minFree {
			whys = append(whys, fmt.Sprintf("free memory %v is under -min-free-mem %v", free, g.minFree))
		}
	}
	return strings.Join(whys, ", and "), strings.Join(figs, ", "), nil
}

// ok looks at the machine once: true if it is not overloaded. The change
// from not overloaded to overloaded and back is said once each way. A
// figure that cannot be read is said once and does not hold work back.
func (g *guard) ok(t *cli.Tool) bool {
	if !g.on() {
		return true
	}
	why, figs, err := g.look()
	switch {
	case err != nil:
		if !g.failed {
			t.Warnf("overload guard: %v; taking jobs regardless", err)
		}
		g.failed, g.over = true, false
		return true
	case why == "":
		if g.over {
			t.Warnf("no longer overloaded (%s): taking jobs again", figs)
		}
		g.failed, g.over = false, false
		return true
	case !g.over:
		t.Warnf("%s: taking no job until it is not", why)
		g.over = true
	}
	return false
}

// wait returns when the machine is not overloaded (ok), looking again
// every overloadPoll, or when ctx ends.
func (g *guard) wait(ctx context.Context, t *cli.Tool) {
	for !g.ok(t) {
		timer := time.NewTimer(overloadPoll)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return
		}
	}
}

// newGuard checks the flags' values and that the figures they need can be
// read here (a usage error if not: the flag cannot work on this machine).
func newGuard(maxLoad float64, minFree size, proc string) (*guard, error) {
	if !(maxLoad >= 0) { // NaN too
		return nil, cli.Usagef("-max-load %v: want a load per core of 0 (no limit) or more", maxLoad)
	}
	if proc == "" {
		proc = "/proc"
	}
	g := &guard{maxLoad: maxLoad, minFree: minFree, proc: proc, cpus: runtime.NumCPU()}
	if g.on() {
		if _, _, err := g.look(); err != nil {
			return nil, cli.Invalid(fmt.Errorf("-max-load and -min-free-mem need %v", err))
		}
	}
	return g, nil
}

// readLoad reads the one-minute load average of a loadavg file.
func readLoad(path string) (float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, pathError(err)
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, fmt.Errorf("%s: empty", path)
	}
	load, err := strconv.ParseFloat(f[0], 64)
	if err != nil || load < 0 {
		return 0, fmt.Errorf("%s: bad load average %q", path, f[0])
	}
	return load, nil
}

// readAvailable reads MemAvailable of a meminfo file.
func readAvailable(path string) (size, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, pathError(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > 1<<53 {
			break
		}
		return size(kb * 1024), nil
	}
	return 0, fmt.Errorf("%s: no MemAvailable line in kB", path)
}

// pathError words a file error as "PATH: reason".
func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

// size is a number of bytes, a flag.Value written as an integer with an
// optional suffix K, M, G or T (powers of 1024): 512M.
type size int64

var units = []struct {
	suffix string
	shift  uint
}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}}

func (s size) String() string {
	for _, u := range units {
		if s >= 1<<u.shift && s%(1<<u.shift) == 0 {
			return strconv.FormatInt(int64(s)>>u.shift, 10) + u.suffix
		}
	}
	for _, u := range units {
		if s >= 1<<u.shift {
			return strconv.FormatFloat(float64(s)/float64(int64(1)<<u.shift), 'f', 1, 64) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

func (s *size) Set(v string) error {
	num, shift := v, uint(0)
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			num, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return fmt.Errorf("bad size %q (want bytes, or a number with K, M, G or T: 512M)", v)
	}
	*s = size(n << shift)
	return nil
}
