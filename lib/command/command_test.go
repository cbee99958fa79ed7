package command

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

// lookup returns a Fill value function that reads vars.
func lookup(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func TestFill(t *testing.T) {
	vars := map[string]string{"date": "20140601", "client_id": "42", "job_id": "20140601_42", "app_name": "app1"}
	for _, tc := range []struct {
		tmpl string
		vars map[string]string // nil: the vars above
		want string
		err  string
	}{
		{tmpl: "echo P {date} {client_id} {job_id} {app_name}", want: "echo P '20140601' '42' '20140601_42' 'app1'"},
		{tmpl: "run --date={date}", want: "run --date='20140601'"},
		{tmpl: "{date}_{client_id}", want: "'20140601'_'42'"},
		{tmpl: "awk '{{print}}' {{job_id}}", want: "awk '{print}' {job_id}"},
		{tmpl: "true", want: "true"},
		{tmpl: "", want: ""},
		{tmpl: "echo {job_id}", vars: map[string]string{"job_id": "it's"}, want: `echo 'it'\''s'`},
		{tmpl: "echo {job_id}", vars: map[string]string{"job_id": ""}, want: "echo ''"},
		{tmpl: "echo {job_id}", vars: map[string]string{"job_id": "a$(b)`c`;d|e&&f\"g"}, want: "echo 'a$(b)`c`;d|e&&f\"g'"},
		{tmpl: "echo {nope}", err: `unknown placeholder {nope} in template "echo {nope}"`},
		{tmpl: "echo {client_id:05d}", err: `unknown placeholder {client_id:05d} in template "echo {client_id:05d}"`},
		{tmpl: "echo {date", err: `unclosed "{" at byte 5 of template "echo {date" (write "{{" for a literal brace)`},
	} {
		vv := vars
		if tc.vars != nil {
			vv = tc.vars
		}
		got, err := Fill(tc.tmpl, lookup(vv))
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Fill(%q) error = %v, want %s", tc.tmpl, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Fill(%q) = %q, %v; want %q", tc.tmpl, got, err, tc.want)
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

func FuzzFill(f *testing.F) {
	f.Add("echo {job_id} > out", "20140601_42")
	f.Add("{{x}} {x}}", "it's")
	f.Add("{x}{", "$(touch pwned)")
	f.Fuzz(func(t *testing.T, tmpl, value string) {
		vars := map[string]string{"app_name": "app", "job_id": value, "x": value}
		names, perr := Placeholders(tmpl)
		cmd, cerr := Fill(tmpl, lookup(vars))
		known := true
		for _, n := range names {
			known = known && (n == "x" || n == "job_id" || n == "app_name")
		}
		if (cerr == nil) != (perr == nil && known) {
			t.Fatalf("Fill(%q) error = %v, Placeholders = %q, %v", tmpl, cerr, names, perr)
		}
		if cerr != nil {
			return
		}
		if !strings.ContainsAny(tmpl, "{}") && cmd != tmpl {
			t.Fatalf("Fill(%q) = %q, want the template unchanged", tmpl, cmd)
		}
		if got, ok := unquote(shellQuote(value)); !ok || got != value {
			t.Fatalf("shellQuote(%q) = %q, which unquotes to %q, %v", value, shellQuote(value), got, ok)
		}
		if tmpl == "{x}" && cmd != shellQuote(value) {
			t.Fatalf("Fill(%q) = %q, want %q", tmpl, cmd, shellQuote(value))
		}
	})
}
