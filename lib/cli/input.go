package cli

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"

	"github.com/stolos-sched/stolos/lib/config"
)

// Record is one input record: a job of an app, and where it came from.
type Record struct {
	App   string
	JobID string
	Where string // "stdin:3" or "argument 2"
}

// MaxLine is the longest input line accepted.
const MaxLine = 1 << 20

// Records calls fn for every record: the arguments if there are any, else
// the lines of stdin. A line holding a TAB is a record APP<TAB>JOB_ID
// (fields after the second are ignored); a line without one is a bare job
// id of app (-a), which must then be set. Blank lines are skipped. Records
// that are malformed go to fn with their error in bad; fn returns false to
// stop. The error is a read error of stdin.
func (t *Tool) Records(app string, args []string, fn func(r Record, bad error) bool) error {
	if len(args) > 0 {
		for i, a := range args {
			where := "argument " + strconv.Itoa(i+1)
			if name, ok := t.flagLike(a); ok {
				if !fn(Record{App: app, JobID: a, Where: where}, fmt.Errorf("%s: %q is a flag: flags go before job ids", where, "-"+name)) {
					return nil
				}
				continue
			}
			r, err := makeRecord(app, a, where)
			if !fn(r, err) {
				return nil
			}
		}
		return nil
	}
	sc := bufio.NewScanner(t.Stdin)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		r, err := makeRecord(app, line, "stdin:"+strconv.Itoa(n))
		if !fn(r, err) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("stdin: %v", err)
	}
	return nil
}

func makeRecord(app, line, where string) (Record, error) {
	r := Record{App: app, Where: where}
	a, rest, isRecord := strings.Cut(line, "\t")
	if !isRecord {
		r.JobID = line
		if app == "" {
			return r, fmt.Errorf("%s: bare job id %q needs -a APP (or write APP<TAB>JOB_ID)", where, line)
		}
		return r, nil
	}
	id, _, _ := strings.Cut(rest, "\t")
	r.JobID = id
	if app != "" && a != app {
		return r, fmt.Errorf("%s: record of app %q, but -a is %q", where, a, app)
	}
	r.App = a
	return r, nil
}

// Job resolves a record against the config: the app, the canonical job id
// and its identifier values. The error names the input line, the app and
// its template.
func Job(c *config.Config, r Record) (*config.App, string, []string, error) {
	a := c.App(r.App)
	if a == nil {
		return nil, "", nil, fmt.Errorf("%s: unknown app %q", r.Where, r.App)
	}
	id, vals, err := a.Parser.Canonical(r.JobID)
	if err != nil {
		return nil, "", nil, fmt.Errorf("%s: invalid job id %q for app %s (template %q): %v", r.Where, r.JobID, a.Name, a.Template.Text, err)
	}
	return a, id, vals, nil
}

// flagLike reports whether an argument names one of the tool's flags
// ("-json", "--set=failed"): a flag written after the job ids, which the
// flag package would take for a job id.
func (t *Tool) flagLike(arg string) (string, bool) {
	if !strings.HasPrefix(arg, "-") {
		return "", false
	}
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return name, name != "" && t.Flags.Lookup(name) != nil
}
