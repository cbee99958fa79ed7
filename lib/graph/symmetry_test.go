package graph_test

import (
	"testing"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/graph"
)

// valuePool collects, per identifier, every value the config mentions plus
// a few it does not, so that job ids built from it reach every group.
func valuePool(c *config.Config) map[string][]string {
	pool := map[string]map[string]bool{}
	add := func(k, v string) {
		if pool[k] == nil {
			pool[k] = map[string]bool{}
		}
		pool[k][v] = true
	}
	for _, a := range c.Apps {
		for k, vs := range a.Autofill {
			for _, v := range vs.List() {
				add(k, v)
			}
		}
		for _, g := range a.Groups {
			for _, s := range g.Subs {
				for k, vs := range s.Values {
					for _, v := range vs.List() {
						add(k, v)
					}
				}
				for p, ids := range s.JobIDs {
					for _, id := range ids.List() {
						vals, _ := p.Parser.Parse(id)
						for i, v := range vals {
							add(p.Template.Idents[i], v)
						}
					}
				}
			}
		}
	}
	extra := map[string][]string{"date": {"20140601", "20990101"}, "client_id": {"7"}, "collection_name": {"profile", "content"}, "testID": {"testID9"}}
	for k, vs := range extra {
		for _, v := range vs {
			add(k, v)
		}
	}
	out := map[string][]string{}
	for k, m := range pool {
		for v := range m {
			out[k] = append(out[k], v)
		}
	}
	return out
}

// sampleJobs builds job ids of app a from the pool (bounded).
func sampleJobs(a *config.App, pool map[string][]string, limit int) [][]string {
	var out [][]string
	vals := make([]string, len(a.Template.Idents))
	var rec func(i int)
	rec = func(i int) {
		if len(out) >= limit {
			return
		}
		if i == len(vals) {
			out = append(out, append([]string(nil), vals...))
			return
		}
		vs := pool[a.Template.Idents[i]]
		if len(vs) == 0 {
			vs = []string{"x"}
		}
		for _, v := range vs {
			vals[i] = v
			rec(i + 1)
		}
	}
	rec(0)
	return out
}

// TestParentsChildrenAgree: c is a child of p exactly when p is a parent of
// c, over every app of the example config and many job ids of each.
func TestParentsChildrenAgree(t *testing.T) {
	c := exampleConfig(t)
	pool := valuePool(c)
	checked := 0
	for _, a := range c.Apps {
		for _, vals := range sampleJobs(a, pool, 20000) {
			id, err := a.Template.Format(vals)
			if err != nil {
				continue
			}
			for _, p := range graph.Parents(nil, a, vals) {
				pv, err := p.App.Parser.Parse(p.JobID)
				if err != nil {
					t.Fatalf("%s %s: parent %s %s does not parse: %v", a.Name, id, p.App.Name, p.JobID, err)
				}
				if !contains(graph.Children(nil, p.App, pv), a, id) {
					t.Errorf("%s %s has parent %s %s, which does not list it as a child", a.Name, id, p.App.Name, p.JobID)
				}
				checked++
			}
			for _, ch := range graph.Children(nil, a, vals) {
				cv, err := ch.App.Parser.Parse(ch.JobID)
				if err != nil {
					t.Fatalf("%s %s: child %s %s does not parse: %v", a.Name, id, ch.App.Name, ch.JobID, err)
				}
				if !contains(graph.Parents(nil, ch.App, cv), a, id) {
					t.Errorf("%s %s has child %s %s, which does not list it as a parent", a.Name, id, ch.App.Name, ch.JobID)
				}
				checked++
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d relations checked", checked)
	}
	t.Logf("%d relations checked", checked)
}

func contains(rels []graph.Rel, a *config.App, id string) bool {
	for _, r := range rels {
		if r.App == a && r.JobID == id {
			return true
		}
	}
	return false
}
