// Package graphviz is stolos-graph: it writes the dependency graph in
// GraphViz's DOT language on stdout. With no job it draws the apps of the
// configuration; with -up or -down it reads jobs (arguments, stdin lines or
// records) and draws their ancestors or descendants, each coloured by its
// state in the queue backend, at most -max jobs, the related jobs of an app
// beyond them drawn as one summary. See stolos-graph(1).
package graphviz

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/dot"
	"github.com/stolos-sched/stolos/lib/graph"
	"github.com/stolos-sched/stolos/lib/related"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// DefaultMax is the default of -max.
const DefaultMax = 500

// ReadFactor bounds the states read for the summaries: at most ReadFactor
// times -max jobs left out of a picture have their state read; the others
// are counted as not read. So a picture reads at most 21 times -max
// states, whatever the width of a fan-in.
const ReadFactor = 20

type flags struct {
	App      string
	Up, Down bool
	Max      int
	Setup    sched.Setup
}

func newTool(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	t := cli.New("stolos-graph", "stolos-graph [-a APP] | stolos-graph -up|-down [-max N] [-a APP] [JOB_ID ...]", stdin, stdout, stderr)
	f := &flags{}
	t.AppFlag(&f.App, false)
	t.JobIDFlag()
	t.Flags.BoolVar(&f.Up, "up", false, "draw the jobs and their ancestors, coloured by state (env STOLOS_UP)")
	t.Flags.BoolVar(&f.Down, "down", false, "draw the jobs and their descendants, coloured by state (env STOLOS_DOWN)")
	t.Flags.IntVar(&f.Max, "max", DefaultMax, "with -up or -down: draw at most `N` jobs; the related jobs of an app left out are one summary node (env STOLOS_MAX)")
	t.QuietFlag()
	f.Setup.Register(t.Flags)
	t.Signals = []os.Signal{os.Interrupt}
	return t, f
}

// command is stolos-graph.
var command = cli.Command[*flags]{New: newTool, Run: run}

// Tool returns the tool with its flags registered, for documentation checks.
func Tool() *cli.Tool { return command.Tool() }

// Main runs stolos-graph.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return command.Main(args, stdin, stdout, stderr)
}

// run checks the flags, then draws the apps, or the jobs read and their
// ancestors or descendants.
func run(ctx context.Context, t *cli.Tool, f *flags, rest []string) error {
	switch {
	case f.Up && f.Down:
		return cli.Usagef("use one of -up and -down")
	case f.Max < 1:
		return cli.Usagef("-max: want at least 1 job, got %d", f.Max)
	case !f.Up && !f.Down && len(rest) > 0:
		return cli.Usagef("job ids go with -up or -down")
	}
	if !f.Up && !f.Down {
		cfg, err := f.Setup.Load(ctx, f.App)
		if err != nil {
			return err
		}
		return dot.Apps(t.Stdout, cfg, f.App)
	}
	s, err := f.Setup.Open(ctx, f.App, t.Warnf)
	if err != nil {
		return err
	}
	defer s.Close()
	d := related.Children
	if f.Up {
		d = related.Parents
	}
	p := newPicture(d, f.Max)
	for _, j := range cli.Jobs(t, f.App, rest, s.ResolveRecord) {
		p.root(j.Ref())
		if err := p.walk.Root(j.App, j.Vals); err != nil {
			return err
		}
	}
	if err := p.walk.Finish(); err != nil {
		return err
	}
	refs := p.refs()
	jobs, err := s.GetAll(ctx, refs)
	if err != nil {
		return err
	}
	p.color(refs, jobs, time.Now())
	return dot.Jobs(t.Stdout, &p.g)
}

// picture is the graph of the walk from the jobs asked for, bounded to max
// jobs: the related jobs of one app of a job that do not fit are one
// summary.
type picture struct {
	walk   *related.Walk
	up     bool
	max    int
	g      dot.Graph
	index  map[store.Ref]int // the jobs drawn
	edges  map[[2]int]bool
	sums   map[sumKey]int   // summaries by job and app
	hidden [][]store.Ref    // the jobs of each summary whose state is read
	read   int              // how many jobs hidden holds in all
	left   map[leftKey]bool // each job once in a summary
}

type sumKey struct {
	job int
	app string
}

type leftKey struct {
	sum int
	ref store.Ref
}

func newPicture(d related.Direction, max int) *picture {
	p := &picture{up: d.Up(), max: max, index: map[store.Ref]int{},
		edges: map[[2]int]bool{}, sums: map[sumKey]int{}, left: map[leftKey]bool{}}
	p.g.Up = p.up
	p.walk = related.NewWalk(d, p.edge)
	return p
}

// root adds a job asked for: it is drawn whatever the bound.
func (p *picture) root(ref store.Ref) {
	i, ok := p.index[ref]
	if !ok {
		i = p.add(ref)
	}
	p.g.Jobs[i].Root = true
}

func (p *picture) add(ref store.Ref) int {
	i := len(p.g.Jobs)
	p.index[ref] = i
	p.g.Jobs = append(p.g.Jobs, dot.Job{Ref: ref})
	return i
}

// edge draws the edge from a job to a related one, which it adds if it
// fits; one that does not fit is counted in a summary and not walked.
func (p *picture) edge(from, to graph.Rel) bool {
	fi := p.index[store.Ref{App: from.App.Name, JobID: from.JobID}]
	ref := store.Ref{App: to.App.Name, JobID: to.JobID}
	ti, ok := p.index[ref]
	if !ok && len(p.g.Jobs) >= p.max {
		k := sumKey{fi, ref.App}
		si, ok := p.sums[k]
		if !ok {
			si = len(p.g.Summaries)
			p.sums[k] = si
			p.g.Summaries = append(p.g.Summaries, dot.Summary{Job: fi, App: ref.App, By: map[dot.Status]int{}})
			p.hidden = append(p.hidden, nil)
		}
		if lk := (leftKey{si, ref}); !p.left[lk] {
			p.left[lk] = true
			sum := &p.g.Summaries[si]
			sum.Count++
			if p.read < ReadFactor*p.max {
				p.read++
				p.hidden[si] = append(p.hidden[si], ref)
			} else {
				sum.Unread++
			}
		}
		return false
	}
	if !ok {
		ti = p.add(ref)
	}
	e := [2]int{fi, ti}
	if p.up {
		e = [2]int{ti, fi}
	}
	if !p.edges[e] {
		p.edges[e] = true
		p.g.Edges = append(p.g.Edges, e)
	}
	return true
}

// refs lists every job whose state the picture shows, each once: those
// drawn, then those of the summaries.
func (p *picture) refs() []store.Ref {
	refs := make([]store.Ref, 0, len(p.g.Jobs))
	for _, j := range p.g.Jobs {
		refs = append(refs, j.Ref)
	}
	seen := map[store.Ref]bool{}
	for _, h := range p.hidden {
		for _, r := range h {
			if _, drawn := p.index[r]; !drawn && !seen[r] {
				seen[r] = true
				refs = append(refs, r)
			}
		}
	}
	return refs
}

// color sets the status of every job and counts those of the summaries,
// from jobs, the states of refs.
func (p *picture) color(refs []store.Ref, jobs []store.Job, now time.Time) {
	status := make(map[store.Ref]dot.Status, len(jobs))
	for i, j := range jobs {
		status[refs[i]] = dot.StatusOf(j, now)
	}
	for i := range p.g.Jobs {
		p.g.Jobs[i].Status = status[p.g.Jobs[i].Ref]
	}
	for si, h := range p.hidden {
		for _, r := range h {
			p.g.Summaries[si].By[status[r]]++
		}
	}
}
