package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
)

func records(t testing.TB, app string, args []string, stdin string) (got []string) {
	tool := New("stolos-x", "stolos-x", strings.NewReader(stdin), io.Discard, io.Discard)
	tool.Flags.Bool("json", false, "")
	for r, bad := range tool.Records(app, args) {
		if bad != nil {
			got = append(got, "error "+bad.Error())
		} else {
			got = append(got, r.Where+" "+r.App+" "+r.JobID)
		}
	}
	return got
}

func TestRecords(t *testing.T) {
	for _, tc := range []struct {
		app   string
		args  []string
		stdin string
		want  string
	}{
		{"a", nil, "1\n\n  \n2", "stdin:1 a 1|stdin:4 a 2"},
		{"", nil, "a\t1\tpending\tdetail\nb\t2\n", "stdin:1 a 1|stdin:2 b 2"},
		{"", nil, "1\n", `error stdin:1: bare job id "1" needs -a APP (or write APP<TAB>JOB_ID)`},
		{"a", nil, "b\t1\n", `error stdin:1: record of app "b", but -a is "a"`},
		{"a", nil, "a\t1\n", "stdin:1 a 1"},
		{"a", []string{"1", "-json", "--json=true", "-x"}, "ignored", `argument 1 a 1|error argument 2: "-json" is a flag: flags go before job ids|error argument 3: "-json" is a flag: flags go before job ids|argument 4 a -x`},
		// A line over MaxLine is reported and skipped; reading goes on.
		{"a", nil, strings.Repeat("x", MaxLine+1) + "\n2\n" + strings.Repeat("y", 3*MaxLine) + "\r\n3", "error stdin:1: line longer than 1048576 bytes, skipped|stdin:2 a 2|error stdin:3: line longer than 1048576 bytes, skipped|stdin:4 a 3"},
		{"a", nil, strings.Repeat("x", MaxLine) + "\r\n" + strings.Repeat("y", MaxLine), "stdin:1 a " + strings.Repeat("x", MaxLine) + "|stdin:2 a " + strings.Repeat("y", MaxLine)},
		{"a", nil, "1\r\n2\n\n", "stdin:1 a 1|stdin:2 a 2"},
	} {
		got := strings.Join(records(t, tc.app, tc.args, tc.stdin), "|")
		if got != tc.want {
			t.Errorf("app %q args %q stdin %.20q:\n got %.200s\nwant %.200s", tc.app, tc.args, tc.stdin, got, tc.want)
		}
	}
}

// FuzzRecords: any input yields records or per-line errors, never a
// record holding a tab or newline, and never a panic.
func FuzzRecords(f *testing.F) {
	for _, s := range []string{"1\n2\n", "a\t1\tx\n", "\t\n", "a\t\tb", "\r\n", "a\tb\tc\td\n\n"} {
		f.Add("", s)
		f.Add("a", s)
	}
	f.Fuzz(func(t *testing.T, app, stdin string) {
		tool := New("stolos-x", "stolos-x", strings.NewReader(stdin), io.Discard, io.Discard)
		for r, bad := range tool.Records(app, nil) {
			// The app of a record comes from -a (checked against the
			// config later) or from the line, which cannot hold a tab.
			if bad == nil && (strings.ContainsAny(r.JobID, "\t\n") || app == "" && strings.ContainsAny(r.App, "\t\n")) {
				t.Fatalf("record %q %q holds a tab or newline", r.App, r.JobID)
			}
			if bad == nil && app != "" && r.App != app {
				t.Fatalf("record of app %q with -a %q", r.App, app)
			}
		}
	})
}

// TestReport: errors print one line each and the exit status is the most
// serious reported, in the tool's order of severity.
func TestReport(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fail     int
		severity []int
		errs     []error
		want     string
	}{
		{"none", 0, nil, nil, "status 0: "},
		{"plain", 0, nil, []error{errors.New("x")}, "status 1: stolos-x: x\n"},
		{"fail status", Usage, nil, []error{errors.New("x")}, "status 2: stolos-x: x\n"},
		{"usage line", 0, nil, []error{Usagef("bad %s", "y")}, "status 2: stolos-x: bad y\nusage: stolos-x [-y]\n"},
		{"invalid", 0, nil, []error{Invalid(errors.New("conf"))}, "status 2: stolos-x: conf\n"},
		{"silent", 0, nil, []error{Exit(3, nil)}, "status 3: "},
		{"wrapped", 0, nil, []error{fmt.Errorf("a 1: %w", Exit(3, errors.New("running")))}, "status 3: stolos-x: a 1: running\n"},
		{"closed pipe", 0, nil, []error{fmt.Errorf("write: %w", syscall.EPIPE)}, "status 1: "},
		{"worst", 0, nil, []error{Exit(3, nil), errors.New("x")}, "status 3: stolos-x: x\n"},
		{"severity", 0, []int{OK, 3, Failure, Usage}, []error{errors.New("x"), Exit(3, nil)}, "status 1: stolos-x: x\n"},
	} {
		var stderr strings.Builder
		tool := New("stolos-x", "stolos-x [-y]", nil, io.Discard, &stderr)
		tool.FailStatus, tool.Severity = tc.fail, tc.severity
		for _, err := range tc.errs {
			tool.Report(err)
		}
		if got := fmt.Sprintf("status %d: %s", tool.status, stderr.String()); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestJobs: the records that resolve are yielded with their jobs; a bad
// record and one the resolver refuses are reported, naming where they came
// from, and the exit status becomes a failure.
func TestJobs(t *testing.T) {
	var stderr strings.Builder
	tool := New("stolos-x", "stolos-x", strings.NewReader("1\nx\n\n2\nb\t3\n"), io.Discard, &stderr)
	resolve := func(r Record) (string, error) {
		if r.JobID == "x" {
			return "", errors.New(`invalid job id "x"`)
		}
		return r.App + "/" + r.JobID, nil
	}
	var got []string
	for r, j := range Jobs(tool, "a", nil, resolve) {
		got = append(got, r.Where+" "+j)
	}
	want := "stdin:1 a/1|stdin:4 a/2"
	wantErr := "stolos-x: stdin:2: invalid job id \"x\"\nstolos-x: stdin:5: record of app \"b\", but -a is \"a\"\n"
	if strings.Join(got, "|") != want || stderr.String() != wantErr || tool.Status() != Failure {
		t.Errorf("got %q, stderr %q, status %d; want %q, %q, %d", got, stderr.String(), tool.Status(), want, wantErr, Failure)
	}
}
