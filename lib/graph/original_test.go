package graph_test

import (
	"strings"
	"testing"

	"github.com/stolos-sched/stolos/lib/graph"
)

// Ports of the original's tests/test_dag_tools.py (ORIGINAL.md 8.1) that
// expectations.jsonl does not already carry.

// test_dag_is_valid: the example config loads with every check on; 26 apps
// (test_get_tasks_config), in file order.
func TestOriginalDagIsValid(t *testing.T) {
	c := exampleConfig(t)
	if len(c.Apps) != 26 {
		t.Fatalf("%d apps, want 26", len(c.Apps))
	}
	if c.Apps[0].Name != "app1" || c.Apps[len(c.Apps)-1].Name != "autofill_getparents" {
		t.Errorf("app order: first %s, last %s", c.Apps[0].Name, c.Apps[len(c.Apps)-1].Name)
	}
}

// test_passes_filter: app2's valid_if_or takes profile and purchase.
func TestOriginalPassesFilter(t *testing.T) {
	a := exampleConfig(t).App("app2")
	for id, want := range map[string]bool{"20140606_1111_content": false, "20140606_1111_profile": true, "20140606_1111_purchase": true} {
		vals, err := a.Parser.Parse(id)
		if err != nil {
			t.Fatal(err)
		}
		if got, needFunc := graph.Valid(a, vals); got != want || needFunc {
			t.Errorf("%s: valid %v (func %v), want %v", id, got, needFunc, want)
		}
	}
	// app3's _func decides (an external command, run by the caller).
	a3 := exampleConfig(t).App("app3")
	vals, _ := a3.Parser.Parse("20140606_1111_profile")
	if valid, needFunc := graph.Valid(a3, vals); valid || !needFunc {
		t.Errorf("app3: valid %v needFunc %v, want the _func to decide", valid, needFunc)
	}
}

// test_get_autofill_values: ranges "10:20:2" and "20150101:20150105".
func TestOriginalAutofillValues(t *testing.T) {
	c := exampleConfig(t)
	for app, want := range map[string]string{"autofill1": "10 12 14 16 18", "autofill2": "20150101 20150102 20150103 20150104"} {
		a := c.App(app)
		var got []string
		for _, v := range a.Autofill {
			got = append(got, v.List()...)
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s: %v, want %s", app, got, want)
		}
	}
}

// test_get_parents with filter_deps: the groups of each parent are known,
// so filtering on depgrp4 leaves only the 444 parent.
func TestOriginalParentGroups(t *testing.T) {
	a := exampleConfig(t).App("depends_on1")
	vals, _ := a.Parser.Parse("20140601_testID3")
	var in4 []string
	for _, r := range graph.Parents(nil, a, vals) {
		if r.Group == "depgrp4" {
			in4 = append(in4, r.App.Name+" "+r.JobID)
		}
	}
	if strings.Join(in4, ",") != "app1 20140601_444_profile" {
		t.Errorf("depgrp4 parents: %v", in4)
	}
}

// test_topological_sort and ORIGINAL.md 3.6: within one subgroup and parent
// the cross product runs in template order with values in list order, so
// the first parent of depends_on1 20140601_testID1 is app2's 876_profile
// (app_name lists app2 first), then app1's.
func TestOriginalParentOrder(t *testing.T) {
	a := exampleConfig(t).App("depends_on1")
	vals, _ := a.Parser.Parse("20140601_testID1")
	rels := graph.Parents(nil, a, vals)
	var got []string
	for _, r := range rels {
		got = append(got, r.App.Name+" "+r.JobID)
	}
	want := "app2 20140601_876_profile,app2 20140601_876_purchase,app2 20140601_1011_profile,app2 20140601_1011_purchase,app2 20140601_9020_profile,app2 20140601_9020_purchase," +
		"app1 20140601_876_profile,app1 20140601_876_purchase,app1 20140601_1011_profile,app1 20140601_1011_purchase,app1 20140601_9020_profile,app1 20140601_9020_purchase,app1 20140601_999_purchase"
	if strings.Join(got, ",") != want {
		t.Errorf("order:\n got %s\nwant %s", strings.Join(got, ","), want)
	}
}
