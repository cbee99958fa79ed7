package config

import (
	"reflect"
	"testing"
)

func TestLimits(t *testing.T) {
	c, err := Parse([]byte(`{
		"ingest": {"job_id": "{n}", "pool": "warehouse", "pool_size": 4},
		"report": {"job_id": "{n}", "pool": "warehouse", "max_running": 1},
		"solo":   {"job_id": "{n}", "max_running": 2},
		"free":   {"job_id": "{n}"},
		"load":   {"job_id": "{n}", "pool": "warehouse", "pool_size": 4}}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	pool := Limit{Name: "pool warehouse", Max: 4, Apps: []string{"ingest", "report", "load"}}
	for app, want := range map[string][]Limit{
		"ingest":  {pool},
		"report":  {{Name: "app report", Max: 1, Apps: []string{"report"}}, pool},
		"solo":    {{Name: "app solo", Max: 2, Apps: []string{"solo"}}},
		"free":    nil,
		"unknown": nil,
	} {
		if got := c.Limits(app); !reflect.DeepEqual(got, want) {
			t.Errorf("Limits(%s) = %+v, want %+v", app, got, want)
		}
	}
}

func TestLimitsErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{"a": {"max_running": -1}}`, "app a: max_running: want a whole number of at least 1, found -1"},
		{`{"a": {"max_running": 0}}`, "app a: max_running: want a whole number of at least 1, found 0"},
		{`{"a": {"max_running": "2"}}`, `app a: max_running: want a whole number of at least 1, found "2"`},
		{`{"a": {"max_running": 1.5}}`, "app a: max_running: want a whole number of at least 1, found 1.5"},
		{`{"a": {"pool": 3, "pool_size": 1}}`, "app a: pool: want a pool name without spaces, tabs or newlines, found 3"},
		{`{"a": {"pool": "", "pool_size": 1}}`, `app a: pool: want a pool name without spaces, tabs or newlines, found ""`},
		{`{"a": {"pool": "w h", "pool_size": 1}}`, `app a: pool: want a pool name without spaces, tabs or newlines, found "w h"`},
		{`{"a": {"pool_size": 2}}`, "app a: pool_size: the app names no pool"},
		{`{"a": {"pool": "w", "pool_size": 0}}`, "app a: pool_size: want a whole number of at least 1, found 0"},
		{`{"a": {"pool": "w"}}`, `app a: pool: no app gives pool "w" its pool_size`},
		{`{"a": {"pool": "w", "pool_size": 2}, "b": {"pool": "w", "pool_size": 3}}`, `app b: pool_size: 3, but app a gives pool "w" the size 2`},
	} {
		_, err := Parse([]byte(tc.doc), Options{DefaultTemplate: "{n}"})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.doc, err, tc.want)
		}
	}
}
