// Package expand is stolos-expand: it writes the job ids of an app made of
// the cross product of identifier values, in template order, one per line.
// Values come from ID=VALUES arguments (a,b,c and inclusive ranges lo..hi
// of integers, or of calendar days for date identifiers, whose values and
// bounds may be relative dates: today, yesterday, today-N, today+N, in the
// time zone of -tz) or, for an identifier not named, from the app's
// autofill_values. It reads nothing. See stolos-expand(1).
package expand

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/jobid"
)

type flags struct {
	App    string
	TZ     string
	Config cli.ConfigFlags
}

func newTool(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	t := cli.New("stolos-expand", "stolos-expand -a APP [ID=VALUES ...]", stdin, stdout, stderr)
	f := &flags{}
	t.AppFlag(&f.App, true)
	t.Flags.StringVar(&f.TZ, "tz", "", "the time zone of relative dates (today, yesterday, today-N): an IANA `ZONE` such as Europe/Paris, or UTC; default the local one (env STOLOS_TZ)")
	f.Config.Register(t.Flags)
	return t, f
}

// command is stolos-expand.
var command = cli.Command[*flags]{New: newTool, Run: run}

// Tool returns the tool with its flags registered, for documentation checks.
func Tool() *cli.Tool { return command.Tool() }

// MaxValues bounds the values one identifier may take (they are held in
// memory; the cross product of several is streamed).
const MaxValues = 10_000_000

// Main runs stolos-expand.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return command.Main(args, stdin, stdout, stderr)
}

func run(ctx context.Context, t *cli.Tool, f *flags, rest []string) error {
	if f.App == "" {
		return cli.Usagef("no app: give -a APP or set STOLOS_APP_NAME")
	}
	cfg, err := f.Config.Load(ctx)
	if err != nil {
		return cli.Usagef("%v", err)
	}
	a := cfg.App(f.App)
	if a == nil {
		return cli.Usagef("unknown app %q", f.App)
	}
	today, err := f.today(t)
	if err != nil {
		return cli.Invalid(err)
	}
	lists, err := Values(a, rest, today)
	if err != nil {
		return cli.Usagef("%v", err)
	}
	return write(t, a, lists)
}

// today is the day relative dates count from: the day of the clock
// (STOLOS_NOW, else the system's) in the zone of -tz.
func (f *flags) today(t *cli.Tool) (time.Time, error) {
	loc := time.Local
	if f.TZ != "" {
		var err error
		if loc, err = time.LoadLocation(f.TZ); err != nil {
			return time.Time{}, fmt.Errorf("-tz %q: unknown time zone", f.TZ)
		}
	}
	now, err := t.Clock()
	if err != nil {
		return time.Time{}, err
	}
	return Today(now(), loc), nil
}

// Values returns the values of each identifier of a's template, from
// ID=VALUES arguments or the app's autofill values (a range stays a range).
// Relative dates count from today (see Today).
func Values(a *config.App, args []string, today time.Time) ([]jobid.Seq, error) {
	tm := a.Template
	lists := make([]jobid.Seq, len(tm.Idents))
	given := make([]bool, len(tm.Idents))
	for _, arg := range args {
		name, spec, ok := strings.Cut(arg, "=")
		if !ok {
			return nil, fmt.Errorf("argument %q: want ID=VALUES", arg)
		}
		i := tm.Index(name)
		if i < 0 {
			return nil, fmt.Errorf("argument %q: %q is not an identifier of app %s (template %q)", arg, name, a.Name, tm.Text)
		}
		if given[i] {
			return nil, fmt.Errorf("argument %q: %s is given twice", arg, name)
		}
		given[i] = true
		vals, err := ParseValues(a.Parser.Rules[i], spec, MaxValues, today)
		if err != nil {
			return nil, fmt.Errorf("argument %q: %v", arg, err)
		}
		lists[i] = jobid.List(vals)
	}
	for i, name := range tm.Idents {
		if given[i] {
			continue
		}
		af := a.Autofill[name]
		if af == nil {
			return nil, fmt.Errorf("no values for %s: give %s=VALUES (app %s has no autofill_values for it)", name, name, a.Name)
		}
		lists[i] = af
	}
	// Values held in memory are checked here, before anything is written;
	// a range's are checked by write as it makes them, so that a range of
	// any size costs nothing up front.
	for i, l := range lists {
		if held(l) {
			for j := range l.Len() {
				if err := tm.CheckValue(i, l.At(j)); err != nil {
					return nil, err
				}
			}
		}
	}
	return lists, nil
}

// held reports whether values are held in memory, not computed (a range).
func held(l jobid.Seq) bool {
	v, ok := l.(*config.Values)
	return !ok || !v.IsRange()
}

// ParseValues parses VALUES: comma-separated values and inclusive ranges
// lo..hi, normalized by rule r; repeats are dropped. A value or bound of a
// date rule may be a relative date (today, yesterday, today-N, today+N),
// counted from today (see Today). A range of more than max values is an
// error.
func ParseValues(r *jobid.Rule, spec string, max int, today time.Time) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, item := range strings.Split(spec, ",") {
		var vals []string
		if lo, hi, isRange := strings.Cut(item, ".."); isRange {
			if lo == "" || hi == "" {
				return nil, fmt.Errorf("range %q: want lo..hi", item)
			}
			var err error
			if lo, err = resolve(r, lo, today); err != nil {
				return nil, fmt.Errorf("range %q: %v", item, err)
			}
			if hi, err = resolve(r, hi, today); err != nil {
				return nil, fmt.Errorf("range %q: %v", item, err)
			}
			if !r.IsDate() && !r.IsInt() && !isInt(lo) {
				return nil, fmt.Errorf("range %q: ranges need integers or dates", item)
			}
			if vals, err = r.Range(lo, hi, 1, true, max); err != nil {
				return nil, fmt.Errorf("range %q: %v", item, err)
			}
		} else {
			v, err := resolve(r, item, today)
			if err == nil {
				v, err = r.Normalize(v)
			}
			if err != nil {
				return nil, err
			}
			vals = []string{v}
		}
		for _, v := range vals {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out, nil
}

func isInt(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// write writes the cross product, first identifier slowest. A value that
// holds the delimiter is a usage error.
func write(t *cli.Tool, a *config.App, lists []jobid.Seq) error {
	var line []byte
	var err error
	var made []int // the identifiers whose values are computed (ranges)
	for i, l := range lists {
		if !held(l) {
			made = append(made, i)
		}
	}
	jobid.Product(lists, func(vals []string) bool {
		for _, i := range made {
			if e := a.Template.CheckValue(i, vals[i]); e != nil {
				// What was written is good; the error follows it.
				err = cli.Usagef("%v", e)
				return false
			}
		}
		line = append(a.Template.AppendFormat(line[:0], vals), '\n')
		_, err = t.Stdout.Write(line)
		return err == nil
	})
	return err
}
