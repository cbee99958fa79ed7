// Package dot draws the dependency graph in the DOT language of GraphViz:
// the apps of a configuration (Apps), or jobs with their states (Jobs), a
// bounded picture of a job's ancestry or descendants. It writes text and
// reads nothing; stolos-graph(1) feeds it.
package dot

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/store"
)

// Quote writes s as a DOT double-quoted string. A backslash is doubled and
// a double quote escaped, so that the string reads back as s in an id and
// shows as s in a label (where DOT reads \n, \l and the like as escapes).
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// label is a multi-line node label: the lines quoted and joined by DOT's
// centred line break.
func label(lines ...string) string {
	q := make([]string, len(lines))
	for i, l := range lines {
		q[i] = strings.Trim(Quote(l), `"`)
	}
	return `"` + strings.Join(q, `\n`) + `"`
}

// Apps writes the app graph of cfg: one node per app (a box; two borders
// for an app with a check_cmd; dashed for an app with no command to run),
// one edge per parent app and child app, labelled with the child's
// dependency groups that name the parent when the child has several
// groups. The app named highlight (if any) is drawn bold.
func Apps(w io.Writer, cfg *config.Config, highlight string) error {
	b := bufio.NewWriter(w)
	b.WriteString("digraph apps {\n\tnode [shape=box, fontname=\"sans-serif\"];\n\tedge [fontname=\"sans-serif\", fontsize=10];\n")
	for _, a := range cfg.Apps {
		var attrs []string
		if a.Exec.CheckCmd != "" {
			attrs = append(attrs, "peripheries=2")
		}
		if a.Exec.BashCmd == "" && a.Exec.JobType == "bash" {
			attrs = append(attrs, "style=dashed")
		}
		if a.Name == highlight {
			attrs = append(attrs, "penwidth=3")
		}
		node(b, Quote(a.Name), attrs)
	}
	for _, c := range cfg.Apps {
		var parents []*config.App
		groups := map[*config.App][]string{}
		for _, g := range c.Groups {
			for _, s := range g.Subs {
				for _, p := range s.Parents {
					gs := groups[p]
					if len(gs) == 0 {
						parents = append(parents, p)
					}
					if len(gs) == 0 || gs[len(gs)-1] != g.Name {
						groups[p] = append(gs, g.Name)
					}
				}
			}
		}
		for _, p := range parents {
			b.WriteString("\t" + Quote(p.Name) + " -> " + Quote(c.Name))
			if len(c.Groups) > 1 {
				b.WriteString(" [label=" + Quote(strings.Join(groups[p], ", ")) + "]")
			}
			b.WriteString(";\n")
		}
	}
	b.WriteString("}\n")
	return b.Flush()
}

func node(b *bufio.Writer, id string, attrs []string) {
	b.WriteString("\t" + id)
	if len(attrs) > 0 {
		b.WriteString(" [" + strings.Join(attrs, ", ") + "]")
	}
	b.WriteString(";\n")
}

// Status is what a job's colour says: its state, and for a pending job
// whether it is queued or running.
type Status string

// The statuses, in the legend's order.
const (
	Absent    Status = "absent"
	Pending   Status = "pending"
	Queued    Status = "queued"
	Running   Status = "running"
	Completed Status = "completed"
	Failed    Status = "failed"
	Skipped   Status = "skipped"
)

// Statuses lists every status in the legend's order.
var Statuses = []Status{Absent, Pending, Queued, Running, Completed, Failed, Skipped}

// colors are the fill colours of the statuses (ColorBrewer's pastel
// shades, readable in print and by the colour-blind with the legend).
var colors = map[Status]string{
	Absent:    "white",
	Pending:   "#f0f0f0",
	Queued:    "#9ecae1",
	Running:   "#fdd835",
	Completed: "#a1d99b",
	Failed:    "#fb6a4a",
	Skipped:   "#bdbdbd",
}

// Color is the fill colour of status st (a CSS colour too): the one
// thing that says a job's status in a picture and on stolos-web's pages.
func (st Status) Color() string { return colors[st] }

// StatusOf is the status of job j at now: running while it is held under
// a live lease, queued while it has a queue entry, else its state.
func StatusOf(j store.Job, now time.Time) Status {
	switch {
	case j.State == store.Absent:
		return Absent
	case j.Claimed(now):
		return Running
	case j.State == store.Pending && j.Queued:
		return Queued
	}
	return Status(j.State)
}

// Job is a node of a job graph.
type Job struct {
	store.Ref
	Status Status
	Root   bool // one of the jobs asked for: drawn bold
}

// Name is the job's node id, and so its title in an SVG: "APP JOB_ID".
func (j Job) Name() string { return j.App + " " + j.JobID }

// Summary stands for the related jobs of one app of a job that the bound
// left out: Count jobs, By status, and Unread of them whose state was not
// read.
type Summary struct {
	Job    int // the index of the job they are related to
	App    string
	Count  int
	By     map[Status]int
	Unread int
}

// Name is the summary's node id: "+ APP of APP JOB_ID".
func (s Summary) Name(jobs []Job) string { return "+ " + s.App + " of " + jobs[s.Job].Name() }

// Label is what the summary says: "+ 9,500 more ingest jobs: 9,400
// completed, 100 pending".
func (s Summary) Label() string {
	noun := " jobs"
	if s.Count == 1 {
		noun = " job"
	}
	var parts []string
	for _, st := range Statuses {
		if n := s.By[st]; n > 0 {
			parts = append(parts, Thousands(n)+" "+string(st))
		}
	}
	if s.Unread > 0 {
		parts = append(parts, Thousands(s.Unread)+" not read")
	}
	l := "+ " + Thousands(s.Count) + " more " + s.App + noun
	if len(parts) > 0 {
		l += ": " + strings.Join(parts, ", ")
	}
	return l
}

// Thousands writes n with a comma between groups of three digits.
func Thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Graph is a picture of jobs: the jobs, the edges between them (parent,
// child: indexes into Jobs) and the summaries of the jobs left out. Up
// says on which side of its job a summary goes: its parents (true) or its
// children.
type Graph struct {
	Jobs      []Job
	Edges     [][2]int
	Summaries []Summary
	Up        bool
}

// Jobs writes g: each job a box filled with the colour of its status and
// labelled with its app and job id, each summary a note, and a legend of
// the statuses the picture uses.
func Jobs(w io.Writer, g *Graph) error {
	b := bufio.NewWriter(w)
	b.WriteString("digraph jobs {\n\tnode [shape=box, style=filled, fontname=\"sans-serif\"];\n")
	used := map[Status]bool{}
	for _, j := range g.Jobs {
		used[j.Status] = true
		node(b, Quote(j.Name()), jobAttrs(j.Status, j.Root, label(j.App, j.JobID)))
	}
	for _, s := range g.Summaries {
		for st := range s.By {
			used[st] = true
		}
		node(b, Quote(s.Name(g.Jobs)), []string{"shape=note", "fillcolor=white", "label=" + Quote(s.Label())})
	}
	for _, e := range g.Edges {
		b.WriteString("\t" + Quote(g.Jobs[e[0]].Name()) + " -> " + Quote(g.Jobs[e[1]].Name()) + ";\n")
	}
	for _, s := range g.Summaries {
		from, to := Quote(s.Name(g.Jobs)), Quote(g.Jobs[s.Job].Name())
		if !g.Up {
			from, to = to, from
		}
		b.WriteString("\t" + from + " -> " + to + " [style=dashed];\n")
	}
	// The legend: one node, a row of the statuses used.
	b.WriteString("\t\"legend\" [shape=plaintext, style=solid, label=<<table border=\"0\" cellborder=\"1\" cellspacing=\"3\" cellpadding=\"4\"><tr><td border=\"0\">state:</td>")
	for _, st := range Statuses {
		if used[st] {
			b.WriteString("<td bgcolor=" + Quote(colors[st]))
			if st == Absent {
				b.WriteString(` style="dashed"`)
			}
			b.WriteString(">" + string(st) + "</td>")
		}
	}
	b.WriteString("</tr></table>>];\n}\n")
	return b.Flush()
}

func jobAttrs(st Status, root bool, label string) []string {
	attrs := []string{"fillcolor=" + Quote(colors[st]), "label=" + label}
	if st == Absent {
		attrs = append(attrs, "style=\"filled,dashed\"")
	}
	if root {
		attrs = append(attrs, "penwidth=3")
	}
	return attrs
}
