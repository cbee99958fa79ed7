package graph_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/graph"
	"github.com/stolos-sched/stolos/lib/jobid"
)

// examplesDir is the repository's copy of the original's examples
// (testdata/examples: tasks.json, validations.json, expectations.jsonl).
// The tests read nothing outside the repository, and a missing file fails
// them: a checkout that lost the files must not pass with nothing run.
func examplesDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "examples")
	for _, name := range []string{"tasks.json", "validations.json", "expectations.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("example file missing: %v", err)
		}
	}
	return dir
}

// exampleConfig loads the original's example tasks.json with our
// validations.json and the template of ORIGINAL.md section 10.
func exampleConfig(t testing.TB) *config.Config {
	dir := examplesDir(t)
	vdata, err := os.ReadFile(filepath.Join(dir, "validations.json"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := jobid.ParseValidations(vdata)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "tasks.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(data, config.Options{DefaultTemplate: "{date}_{client_id}_{collection_name}", Validations: v})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type expectation struct {
	Op       string      `json:"op"`
	App      string      `json:"app"`
	JobID    string      `json:"job_id"`
	Expected [][2]string `json:"expected"`
	Groups   []string    `json:"groups"`
	Source   string      `json:"source"`
}

func TestExpectations(t *testing.T) {
	c := exampleConfig(t)
	f, err := os.Open(filepath.Join(examplesDir(t), "expectations.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var e expectation
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		n++
		t.Run(e.Op+"/"+e.App+"/"+e.JobID, func(t *testing.T) {
			a := c.App(e.App)
			if a == nil {
				t.Fatalf("no app %s", e.App)
			}
			vals, err := a.Parser.Parse(e.JobID)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var rels []graph.Rel
			if e.Op == "parents" {
				rels = graph.Parents(nil, a, vals)
			} else {
				rels = graph.Children(nil, a, vals)
			}
			got := map[[2]string]bool{}
			groups := map[string]bool{}
			for _, r := range rels {
				got[[2]string{r.App.Name, r.JobID}] = true
				groups[r.Group] = true
			}
			want := map[[2]string]bool{}
			for _, p := range e.Expected {
				want[p] = true
			}
			if !equalSets(got, want) {
				t.Errorf("%s (%s):\n got %v\nwant %v", e.Op, e.Source, keys(got), keys(want))
			}
			wantGroups := map[string]bool{}
			for _, g := range e.Groups {
				wantGroups[g] = true
			}
			if !equalSets(groups, wantGroups) {
				t.Errorf("groups: got %v, want %v", keys(groups), e.Groups)
			}
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("read only %d expectations", n)
	}
}

func equalSets[K comparable](a, b map[K]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keys[K comparable](m map[K]bool) []string {
	var out []string
	for k := range m {
		s := strings.Trim(strings.ReplaceAll(strings.Trim(fmtKey(k), "[]"), " ", "/"), "/")
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func fmtKey(k any) string {
	switch v := k.(type) {
	case [2]string:
		return v[0] + " " + v[1]
	case string:
		return v
	}
	return ""
}
