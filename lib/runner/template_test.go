package runner

import (
	"reflect"
	"strings"
	"testing"
)

func TestPlaceholders(t *testing.T) {
	for _, tc := range []struct {
		tmpl  string
		names []string
		err   string
	}{
		{tmpl: "", names: nil},
		{tmpl: "echo hi", names: nil},
		{tmpl: "echo {date} {client_id} {date}", names: []string{"date", "client_id"}},
		{tmpl: "{job_id}{app_name}", names: []string{"job_id", "app_name"}},
		{tmpl: "awk '{{print $1}}' {f}", names: []string{"f"}},
		{tmpl: "{{date}}", names: nil},
		{tmpl: "{{{date}}}", names: []string{"date"}},
		{tmpl: "{client_id:05d}", names: []string{"client_id:05d"}},
		{tmpl: "{a b}", names: []string{"a b"}},
		{tmpl: "echo {date", err: `unclosed "{" at byte 5 of template "echo {date" (write "{{" for a literal brace)`},
		{tmpl: "{a{b}", err: `unclosed "{" at byte 0 of template "{a{b}" (write "{{" for a literal brace)`},
		{tmpl: "{", err: `unclosed "{" at byte 0 of template "{" (write "{{" for a literal brace)`},
		{tmpl: "echo }", err: `unmatched "}" at byte 5 of template "echo }" (write "}}" for a literal brace)`},
		{tmpl: "{a}}", err: `unmatched "}" at byte 3 of template "{a}}" (write "}}" for a literal brace)`},
		{tmpl: "echo {}", err: `empty placeholder "{}" at byte 5 of template "echo {}"`},
	} {
		names, err := Placeholders(tc.tmpl)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Placeholders(%q) error = %v, want %s", tc.tmpl, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(names, tc.names) {
			t.Errorf("Placeholders(%q) = %q, %v; want %q", tc.tmpl, names, err, tc.names)
		}
	}
}

func TestCommand(t *testing.T) {
	j := Job{
		App:    "app1",
		JobID:  "20140601_42",
		Idents: []Ident{{"date", "20140601"}, {"client_id", "42"}},
	}
	for _, tc := range []struct {
		tmpl string
		j    *Job // nil: the job above
		want string
		err  string
	}{
		{tmpl: "echo P {date} {client_id} {job_id} {app_name}", want: "echo P '20140601' '42' '20140601_42' 'app1'"},
		{tmpl: "run --date={date}", want: "run --date='20140601'"},
		{tmpl: "{date}_{client_id}", want: "'20140601'_'42'"},
		{tmpl: "awk '{{print}}' {{job_id}}", want: "awk '{print}' {job_id}"},
		{tmpl: "true", want: "true"},
		{tmpl: "", want: ""},
		{tmpl: "echo {job_id}", j: &Job{JobID: "it's"}, want: `echo 'it'\''s'`},
		{tmpl: "echo {job_id}", j: &Job{JobID: ""}, want: "echo ''"},
		{tmpl: "echo {job_id}", j: &Job{JobID: "a$(b)`c`;d|e&&f\"g"}, want: "echo 'a$(b)`c`;d|e&&f\"g'"},
		// An identifier named like a built-in placeholder wins, as in the original.
		{tmpl: "echo {job_id}", j: &Job{JobID: "x", Idents: []Ident{{"job_id", "y"}}}, want: "echo 'y'"},
		{tmpl: "echo {nope}", err: `unknown placeholder {nope} in template "echo {nope}"`},
		{tmpl: "echo {client_id:05d}", err: `unknown placeholder {client_id:05d} in template "echo {client_id:05d}"`},
		{tmpl: "echo {date", err: `unclosed "{" at byte 5 of template "echo {date" (write "{{" for a literal brace)`},
	} {
		jj := j
		if tc.j != nil {
			jj = *tc.j
		}
		got, err := Command(tc.tmpl, jj)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Command(%q) error = %v, want %s", tc.tmpl, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Command(%q) = %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
}

// unquote undoes shellQuote for a string made only of single-quoted parts and
// \' escapes; ok is false for anything else.
func unquote(s string) (string, bool) {
	var b strings.Builder
	for len(s) > 0 {
		switch {
		case strings.HasPrefix(s, `\'`):
			b.WriteByte('\'')
			s = s[2:]
		case s[0] == '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return "", false
			}
			b.WriteString(s[1 : 1+end])
			s = s[2+end:]
		default:
			return "", false
		}
	}
	return b.String(), true
}

func FuzzCommand(f *testing.F) {
	f.Add("echo {job_id} > out", "20140601_42")
	f.Add("{{x}} {x}}", "it's")
	f.Add("{x}{", "$(touch pwned)")
	f.Fuzz(func(t *testing.T, tmpl, value string) {
		j := Job{App: "app", JobID: value, Idents: []Ident{{"x", value}}}
		names, perr := Placeholders(tmpl)
		cmd, cerr := Command(tmpl, j)
		known := true
		for _, n := range names {
			known = known && (n == "x" || n == "job_id" || n == "app_name")
		}
		if (cerr == nil) != (perr == nil && known) {
			t.Fatalf("Command(%q) error = %v, Placeholders = %q, %v", tmpl, cerr, names, perr)
		}
		if cerr != nil {
			return
		}
		if !strings.ContainsAny(tmpl, "{}") && cmd != tmpl {
			t.Fatalf("Command(%q) = %q, want the template unchanged", tmpl, cmd)
		}
		if got, ok := unquote(shellQuote(value)); !ok || got != value {
			t.Fatalf("shellQuote(%q) = %q, which unquotes to %q, %v", value, shellQuote(value), got, ok)
		}
		if tmpl == "{x}" && cmd != shellQuote(value) {
			t.Fatalf("Command(%q) = %q, want %q", tmpl, cmd, shellQuote(value))
		}
	})
}
