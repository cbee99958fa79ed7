package runner

import (
	"reflect"
	"testing"
)

// TestShellArgv: a job's placeholders are its identifiers, app_name and
// job_id, and an identifier named like a built-in one wins, as in the
// original. (command's tests cover the filling itself.)
func TestShellArgv(t *testing.T) {
	j := Job{
		App:    "app1",
		JobID:  "20140601_42",
		Idents: []Ident{{"date", "20140601"}, {"client_id", "42"}},
	}
	for _, tc := range []struct {
		tmpl string
		j    *Job // nil: the job above
		want []string
		bad  string
	}{
		{tmpl: "echo P {date} {client_id} {job_id} {app_name}", want: []string{Shell, "-c", "echo P '20140601' '42' '20140601_42' 'app1'"}},
		{tmpl: "echo {job_id}", j: &Job{JobID: "x", Idents: []Ident{{"job_id", "y"}}}, want: []string{Shell, "-c", "echo 'y'"}},
		{tmpl: "echo {app_name}", j: &Job{App: "a", Idents: []Ident{{"app_name", "b"}}}, want: []string{Shell, "-c", "echo 'b'"}},
		{tmpl: "echo {nope}", bad: `bad command: unknown placeholder {nope} in template "echo {nope}"`},
		{tmpl: " ", bad: "bad command: empty command"},
	} {
		jj := j
		if tc.j != nil {
			jj = *tc.j
		}
		argv, bad := shellArgv(tc.tmpl, jj)
		if !reflect.DeepEqual(argv, tc.want) || bad != tc.bad {
			t.Errorf("shellArgv(%q) = %q, %q; want %q, %q", tc.tmpl, argv, bad, tc.want, tc.bad)
		}
	}
}
