package config

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stolos-sched/stolos/lib/jobid"
)

// FuzzParse: any document either loads or fails with an error; a config
// that loads has acyclic, consistent edges.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", "tasks.json")); err == nil {
		f.Add(string(data))
	}
	for _, s := range []string{
		`{"a": {"job_id": "{n}"}, "b": {"job_id": "{n}", "depends_on": {"app_name": ["a"]}}}`,
		`{"a": {"job_id": "{n}", "autofill_values": {"n": "1:10:3"}}, "b": {"job_id": "{d}", "depends_on": {"g": [{"app_name": ["a"], "n": "all"}]}}}`,
		`{"a": {"job_id": "{n}", "valid_if_or": {"n": [1], "_func": "true"}}}`,
		`{"a": {"job_id": "{n}", "depends_on": {"app_name": ["a"]}}}`,
		`{"a": {"job_id": "{n}_{m}", "depends_on": {"x": {"app_name": ["a"], "job_id": ["1_2"]}}}}`,
		`{"a": {}}`, `[]`, `{"a": {"job_id": "{n}"},}`,
		`{"a": {"job_id": "{n}", "max_running": 2, "pool": "w", "pool_size": 4}, "b": {"job_id": "{n}", "pool": "w"}}`,
		`{"a": {"job_id": "{n}", "max_running": -1}}`,
		`{"a": {"job_id": "{n}", "pool": "w", "pool_size": 2}, "b": {"job_id": "{n}", "pool": "w", "pool_size": 3}}`,
	} {
		f.Add(s)
	}
	v, _ := jobid.ParseValidations([]byte(`{"n": {"type": "int"}, "d": {"type": "date"}}`))
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := Parse([]byte(doc), Options{DefaultTemplate: "{n}", Validations: v})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, a := range c.Apps {
			if c.App(a.Name) != a {
				t.Fatalf("lookup of %q", a.Name)
			}
			for _, e := range a.Children {
				if e.Child == a {
					t.Fatalf("%s is its own child", a.Name)
				}
			}
			for _, l := range c.Limits(a.Name) {
				if l.Max < 1 || !slices.Contains(l.Apps, a.Name) {
					t.Fatalf("limit %+v of %s", l, a.Name)
				}
			}
		}
	})
}
