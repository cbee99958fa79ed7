package graph_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/graph"
	"github.com/stolos-sched/stolos/lib/jobid"
)

// benchCase is one job of the example config, parsed, with the number of
// distinct related jobs expectations.jsonl says it has.
type benchCase struct {
	app  *config.App
	vals []string
	want int
}

// exampleCases returns the jobs of expectations.jsonl whose op is op.
func exampleCases(b *testing.B, op string) []benchCase {
	c := exampleConfig(b)
	f, err := os.Open(filepath.Join(examplesDir(b), "expectations.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var out []benchCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e expectation
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			b.Fatal(err)
		}
		if e.Op != op {
			continue
		}
		a := c.App(e.App)
		vals, err := a.Parser.Parse(e.JobID)
		if err != nil {
			b.Fatalf("%s %s: %v", e.App, e.JobID, err)
		}
		out = append(out, benchCase{a, vals, len(e.Expected)})
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	if len(out) == 0 {
		b.Fatalf("no %s expectations", op)
	}
	return out
}

// distinct counts the distinct jobs of rels.
func distinct(rels []graph.Rel) int {
	seen := map[[2]string]bool{}
	for _, r := range rels {
		seen[[2]string{r.App.Name, r.JobID}] = true
	}
	return len(seen)
}

// benchRelated runs fn over the cases in turn, one job per op, reusing its
// output slice as the tools do; it first checks every case's result count.
func benchRelated(b *testing.B, cases []benchCase, fn func([]graph.Rel, *config.App, []string) []graph.Rel) {
	for _, c := range cases {
		if got := distinct(fn(nil, c.app, c.vals)); got != c.want {
			b.Fatalf("%s %v: %d related jobs, want %d", c.app.Name, c.vals, got, c.want)
		}
	}
	var out []graph.Rel
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := cases[i%len(cases)]
		out = fn(out[:0], c.app, c.vals)
	}
}

// BenchmarkParents: the parents of each job of expectations.jsonl's
// "parents" lines, on the original's example config.
func BenchmarkParents(b *testing.B) {
	benchRelated(b, exampleCases(b, "parents"), graph.Parents)
}

// BenchmarkChildren: the children of each job of expectations.jsonl's
// "children" lines.
func BenchmarkChildren(b *testing.B) {
	benchRelated(b, exampleCases(b, "children"), graph.Children)
}

// oneToOne is app b depending 1:1 on app a, both of a three-identifier
// template (testdata/bench/tasks.json, which stolos-parents streams in
// make bench).
const oneToOne = `{
  "a": {"job_id": "{date}_{client_id}_{collection_name}"},
  "b": {"job_id": "{date}_{client_id}_{collection_name}", "depends_on": {"app_name": ["a"]}}
}`

func oneToOneConfig(b *testing.B) *config.Config {
	v, err := jobid.ParseValidations([]byte(`{"date": {"type": "date", "layout": "20060102"}, "client_id": {"type": "int"}}`))
	if err != nil {
		b.Fatal(err)
	}
	c, err := config.Parse([]byte(oneToOne), config.Options{Validations: v, Delimiter: "_"})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkParents1to1: the one parent of a job of a 1:1 app, the inner
// loop of stolos-parents streaming job ids (parsing included).
func BenchmarkParents1to1(b *testing.B) {
	c := oneToOneConfig(b)
	a := c.App("b")
	const id = "20140601_876_profile"
	vals, err := a.Parser.Parse(id)
	if err != nil {
		b.Fatal(err)
	}
	got := graph.Parents(nil, a, vals)
	if len(got) != 1 || got[0].App.Name != "a" || got[0].JobID != id {
		b.Fatalf("parents of b %s: %v, want a %s", id, got, id)
	}
	var out []graph.Rel
	b.ReportAllocs()
	for b.Loop() {
		vals, _ := a.Parser.Parse(id)
		out = graph.Parents(out[:0], a, vals)
	}
}

// BenchmarkChildren1to1: the one child of a job of app a.
func BenchmarkChildren1to1(b *testing.B) {
	c := oneToOneConfig(b)
	a := c.App("a")
	const id = "20140601_876_profile"
	vals, err := a.Parser.Parse(id)
	if err != nil {
		b.Fatal(err)
	}
	got := graph.Children(nil, a, vals)
	if len(got) != 1 || got[0].App.Name != "b" || got[0].JobID != id {
		b.Fatalf("children of a %s: %v, want b %s", id, got, id)
	}
	var out []graph.Rel
	b.ReportAllocs()
	for b.Loop() {
		vals, _ := a.Parser.Parse(id)
		out = graph.Children(out[:0], a, vals)
	}
}
