// Package related is the shared body of stolos-parents and
// stolos-children: it reads job records (arguments or stdin) and writes
// the related jobs of each, one APP<TAB>JOB_ID[<TAB>GROUP] line per job.
// Its walk over every ancestor or descendant (Walk) also serves
// stolos-graph.
package related

import (
	"context"
	"io"
	"slices"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/graph"
)

// Direction is parents or children.
type Direction struct {
	Name  string // "stolos-parents"
	Noun  string // "parent"
	Nouns string // "ancestors"
	up    bool   // towards the parents
	step  func(out []graph.Rel, a *config.App, vals []string) []graph.Rel
}

// The two directions.
var (
	Parents  = Direction{"stolos-parents", "parent", "ancestors", true, graph.Parents}
	Children = Direction{"stolos-children", "child", "descendants", false, graph.Children}
)

// Up says whether d goes towards the parents.
func (d Direction) Up() bool { return d.up }

// Flags are the tool's flags.
type Flags struct {
	App    string
	Groups bool
	Rec    bool
	Config cli.ConfigFlags
}

// newTool makes the tool and registers its flags.
func newTool(d Direction, stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *Flags) {
	t := cli.New(d.Name, d.Name+" [-g] [-r] [-a APP] [JOB_ID ...]", stdin, stdout, stderr)
	f := &Flags{}
	t.AppFlag(&f.App, false)
	t.JobIDFlag()
	t.Flags.BoolVar(&f.Groups, "g", false, "add the dependency group of each "+d.Noun+" as a third field (env STOLOS_G)")
	t.Flags.BoolVar(&f.Rec, "r", false, "every "+d.Nouns[:len(d.Nouns)-1]+" once, parents before children (env STOLOS_R)")
	f.Config.Register(t.Flags)
	return t, f
}

// Command is the tool of direction d.
func Command(d Direction) cli.Command[*Flags] {
	return cli.Command[*Flags]{
		New: func(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *Flags) {
			return newTool(d, stdin, stdout, stderr)
		},
		Run: func(ctx context.Context, t *cli.Tool, f *Flags, rest []string) error { return run(ctx, t, d, f, rest) },
	}
}

// job is an input job resolved against the configuration.
type job struct {
	app  *config.App
	vals []string
}

func run(ctx context.Context, t *cli.Tool, d Direction, f *Flags, rest []string) error {
	cfg, err := f.Config.Load(ctx)
	if err != nil {
		return cli.Usagef("%v", err)
	}
	if f.App != "" && cfg.App(f.App) == nil {
		return cli.Usagef("unknown app %q", f.App)
	}
	w := &writer{t: t, groups: f.Groups}
	var walk *walker
	if f.Rec {
		walk = &walker{d: d, w: w, seen: map[key]*node{}}
	}
	resolve := func(r cli.Record) (job, error) {
		a, _, vals, err := cfg.Resolve(r.App, r.JobID)
		return job{a, vals}, err
	}
	var rels []graph.Rel
	seen := map[key]bool{}
	for _, j := range cli.Jobs(t, f.App, rest, resolve) {
		if walk != nil {
			if walk.root(j.app, j.vals) != nil {
				break
			}
			continue
		}
		rels = d.step(rels[:0], j.app, j.vals)
		clear(seen)
		for _, rel := range rels {
			if k := w.key(rel); !seen[k] {
				seen[k] = true
				w.write(rel)
			}
		}
		if w.err != nil {
			break
		}
	}
	if walk != nil {
		if err := walk.finish(); err != nil && w.err == nil {
			t.Report(err)
		}
	}
	return w.err
}

type key struct{ app, job, group string }

type writer struct {
	t      *cli.Tool
	groups bool
	err    error
}

func (w *writer) key(r graph.Rel) key {
	if w.groups {
		return key{r.App.Name, r.JobID, r.Group}
	}
	return key{r.App.Name, r.JobID, ""}
}

func (w *writer) write(r graph.Rel) error {
	if w.err != nil {
		return w.err
	}
	b := w.t.Stdout
	b.WriteString(r.App.Name)
	b.WriteByte('\t')
	b.WriteString(r.JobID)
	if w.groups {
		b.WriteByte('\t')
		b.WriteString(r.Group)
	}
	_, w.err = b.WriteString("\n")
	return w.err
}

// walker finds every ancestor (or descendant) once, parents before
// children. Ancestors are written as found (a depth-first post-order);
// descendants are written at the end (a reverse post-order), since a
// descendant can only be placed once all the paths to it are known.
// Without a writer it writes nothing and only tells edge of each edge.
type walker struct {
	d     Direction
	w     *writer // nil: write nothing
	edge  func(from, to graph.Rel) bool
	seen  map[key]*node
	post  []*node // descendants: post-order, written reversed at the end
	roots []root  // descendants: the inputs, walked at the end
}

// Walk is a walk over the jobs related to some jobs (Root): their
// ancestors or descendants, each once, depth first, in the order of the
// graph's answers. It is the walk of stolos-parents -r and
// stolos-children -r, without their order of output; stolos-graph draws
// with it.
type Walk struct{ k walker }

// NewWalk starts a walk in direction d. For every edge the walk finds,
// from a job to one of its parents (or children), it calls edge; the walk
// goes on to a job it has not reached before only when edge returns true,
// which bounds it.
func NewWalk(d Direction, edge func(from, to graph.Rel) bool) *Walk {
	return &Walk{walker{d: d, edge: edge, seen: map[key]*node{}}}
}

// Root walks from the job of app a with identifier values vals.
func (w *Walk) Root(a *config.App, vals []string) error { return w.k.root(a, vals) }

// Finish ends the walk (a walk to the children walks at the end).
func (w *Walk) Finish() error { return w.k.finish() }

type node struct {
	rel     graph.Rel
	reached bool // reached through an edge (not only as an input)
	written bool
}

func (k *walker) root(a *config.App, vals []string) error {
	r := graph.Rel{App: a, JobID: string(a.Template.AppendFormat(nil, vals))}
	if !k.d.up {
		k.roots = append(k.roots, root{r, vals})
		return nil
	}
	return k.visit(r, vals, false)
}

type root struct {
	rel  graph.Rel
	vals []string
}

func (k *walker) visit(r graph.Rel, vals []string, viaEdge bool) error {
	nk := key{r.App.Name, r.JobID, ""}
	n := k.seen[nk]
	if n != nil {
		if viaEdge && !n.reached {
			n.reached = true
			n.rel.Group = r.Group
			if k.d.up {
				return k.emit(n)
			}
		}
		return nil
	}
	n = &node{rel: r, reached: viaEdge}
	k.seen[nk] = n
	rels := k.d.step(nil, r.App, vals)
	if !k.d.up && k.w != nil {
		// Walked in reverse, the reverse post-order lists siblings in
		// their natural order.
		slices.Reverse(rels)
	}
	for _, rel := range rels {
		if k.edge != nil && !k.edge(r, rel) {
			continue
		}
		pv, err := rel.App.Parser.Parse(rel.JobID)
		if err != nil {
			return err // cannot happen: the graph makes canonical ids
		}
		if err := k.visit(rel, pv, true); err != nil {
			return err
		}
	}
	if k.d.up {
		if viaEdge {
			return k.emit(n)
		}
		return nil
	}
	k.post = append(k.post, n)
	return nil
}

func (k *walker) emit(n *node) error {
	if n.written || k.w == nil {
		return nil
	}
	n.written = true
	return k.w.write(n.rel)
}

func (k *walker) finish() error {
	for i := range k.roots {
		if k.w != nil {
			i = len(k.roots) - 1 - i // as the siblings in visit
		}
		if err := k.visit(k.roots[i].rel, k.roots[i].vals, false); err != nil {
			return err
		}
	}
	for i := len(k.post) - 1; i >= 0; i-- {
		if n := k.post[i]; n.reached {
			if err := k.emit(n); err != nil {
				return err
			}
		}
	}
	return nil
}
