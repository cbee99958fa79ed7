// Package command is what stolos gives the commands it runs for a job: the
// command line, filled from one of its app's templates (bash_cmd, check_cmd)
// with shell-quoted values, and the environment variables that name the job.
// Configuration loading checks templates with it; stolos-exec's runner fills
// them; nothing here starts a process, so a tool that only reads the
// configuration does not link the runner.
package command

import (
	"fmt"
	"strings"
)

// segment is one piece of a parsed command template: literal text, or a
// placeholder's name.
type segment struct {
	lit  string
	name string // placeholder name; "" for literal text
}

// parse splits a command template into literal text and placeholders.
// "{name}" is a placeholder, "{{" and "}}" are literal braces. A name is any
// non-empty text without braces (so "{client_id:05d}" is a placeholder named
// "client_id:05d", which no job fills: Python format specs are not supported).
func parse(tmpl string) ([]segment, error) {
	var segs []segment
	var lit strings.Builder
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		switch {
		case c == '{' && i+1 < len(tmpl) && tmpl[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(tmpl) && tmpl[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '}':
			return nil, fmt.Errorf("unmatched \"}\" at byte %d of template %q (write \"}}\" for a literal brace)", i, tmpl)
		case c == '{':
			end := strings.IndexAny(tmpl[i+1:], "{}")
			if end < 0 || tmpl[i+1+end] == '{' {
				return nil, fmt.Errorf("unclosed \"{\" at byte %d of template %q (write \"{{\" for a literal brace)", i, tmpl)
			}
			name := tmpl[i+1 : i+1+end]
			if name == "" {
				return nil, fmt.Errorf("empty placeholder \"{}\" at byte %d of template %q", i, tmpl)
			}
			if lit.Len() > 0 {
				segs = append(segs, segment{lit: lit.String()})
				lit.Reset()
			}
			segs = append(segs, segment{name: name})
			i += 1 + end
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		segs = append(segs, segment{lit: lit.String()})
	}
	return segs, nil
}

// Placeholders returns the names of the placeholders tmpl uses, each once, in
// order of first use, or an error for a malformed template (an unclosed "{",
// an unmatched "}", an empty "{}"). Config loading uses it to reject a
// command that names a placeholder no job of the app fills.
func Placeholders(tmpl string) ([]string, error) {
	segs, err := parse(tmpl)
	if err != nil {
		return nil, err
	}
	var names []string
	seen := map[string]bool{}
	for _, s := range segs {
		if s.name != "" && !seen[s.name] {
			seen[s.name] = true
			names = append(names, s.name)
		}
	}
	return names, nil
}

// Fill fills the template tmpl and returns the shell command line; value
// returns the value of a placeholder's name, or false when nothing fills it.
// Every value is inserted shell-quoted, as one word in single quotes:
//
//	it's  ->  'it'\''s'
//
// so no value can inject shell code; templates must not quote placeholders
// themselves ("{date}" yields the quotes too). "{{" and "}}" are literal
// braces. A placeholder no value fills is an error naming it and the
// template.
func Fill(tmpl string, value func(name string) (string, bool)) (string, error) {
	segs, err := parse(tmpl)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, s := range segs {
		if s.name == "" {
			b.WriteString(s.lit)
			continue
		}
		v, ok := value(s.name)
		if !ok {
			return "", fmt.Errorf("unknown placeholder {%s} in template %q", s.name, tmpl)
		}
		b.WriteString(shellQuote(v))
	}
	return b.String(), nil
}

// shellQuote returns s as one POSIX shell word in single quotes; a single
// quote inside closes the quotes, is escaped with a backslash, and reopens
// them:
//
//	it's  ->  'it'\''s'
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// JobVarsEnv is the variable that lists (space-separated) the variables
// stolos-exec sets to describe the job a command runs for. A stolos tool
// run by the command does not read them as its settings: STOLOS_APP_NAME
// says which job this is, not which app the tool is for.
const JobVarsEnv = "STOLOS_JOB_VARS"

// DescribeJob returns the variables ("KEY=VALUE") that describe job id of
// app to the commands stolos runs for it: STOLOS_APP_NAME, STOLOS_JOB_ID,
// and STOLOS_JOB_VARS naming them.
func DescribeJob(app, id string) []string {
	return []string{
		"STOLOS_APP_NAME=" + app,
		"STOLOS_JOB_ID=" + id,
		JobVarsEnv + "=STOLOS_APP_NAME STOLOS_JOB_ID",
	}
}
