package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/stolos-sched/stolos/lib/command"
)

// Parse parses args (flags may be spelled the original's way, --job_id
// for -job-id), then sets the flags they did not set from the
// environment (flag -x-y from STOLOS_X_Y, except the variables named by
// STOLOS_JOB_VARS), then those still unset from the -config file. It
// handles -version and -h itself: it then returns Exit(OK, nil), which
// ends the tool.
func (t *Tool) Parse(args []string) (rest []string, err error) {
	if len(args) > 0 && (args[0] == "-version" || args[0] == "--version") {
		fmt.Fprintf(t.Stdout, "%s %s\n", t.Name, Version)
		return nil, Exit(OK, nil)
	}
	err = t.Flags.Parse(originalSpelling(t.Flags, args))
	if errors.Is(err, flag.ErrHelp) {
		t.Stdout.WriteString(t.Help())
		return nil, Exit(OK, nil)
	}
	if err != nil {
		return nil, Usagef("%s", flagError(err))
	}
	set := map[string]bool{}
	t.Flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
	err = t.setFromEnv(set)
	if err == nil {
		err = t.setFromFile(set)
	}
	if err != nil {
		// The environment and the file are not the command line: the
		// usage line would not help.
		return nil, Invalid(err)
	}
	return t.Flags.Args(), nil
}

// EnvVar is the environment variable of flag name: STOLOS_ and the name in
// upper case, with "-" as "_".
func EnvVar(name string) string {
	return "STOLOS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func (t *Tool) getenv(key string) string {
	if t.Getenv != nil {
		return t.Getenv(key)
	}
	return os.Getenv(key)
}

// setFromEnv sets the flags not in set from their non-empty environment
// variables, and adds them to set. Variables that STOLOS_JOB_VARS names
// describe the job the tool runs in (stolos-exec sets them for its
// commands), not settings of the tool, and are not read.
func (t *Tool) setFromEnv(set map[string]bool) error {
	skip := map[string]bool{}
	for _, k := range strings.Fields(t.getenv(command.JobVarsEnv)) {
		skip[k] = true
	}
	var err error
	t.Flags.VisitAll(func(f *flag.Flag) {
		key := EnvVar(f.Name)
		if err != nil || set[f.Name] || skip[key] || IsInput(f) {
			return
		}
		v := t.getenv(key)
		if v == "" {
			return
		}
		if e := t.Flags.Set(f.Name, v); e != nil {
			err = fmt.Errorf("%s: invalid value %q for -%s: %v", key, v, f.Name, e)
			return
		}
		set[f.Name] = true
	})
	return err
}

// setFromFile reads the -config file, if one is named: lines "name value"
// (a name alone sets a boolean flag to true; "#" starts a comment). It
// sets the tool's flags not in set, skips other tools' flags, and fails on
// a name that no tool defines.
func (t *Tool) setFromFile(set map[string]bool) error {
	cf := t.Flags.Lookup("config")
	if cf == nil || cf.Value.String() == "" {
		return nil
	}
	path := cf.Value.String()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	lr := newLineReader(f)
	for {
		line, long, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		where := path + ":" + strconv.Itoa(lr.n)
		if long {
			return fmt.Errorf("%s: line longer than %d bytes", where, MaxLine)
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, hasValue := strings.Cut(line, " ")
		value = strings.TrimSpace(value)
		if i := strings.Index(value, " #"); i >= 0 {
			value = strings.TrimSpace(value[:i])
		}
		if !hasValue {
			value = "true"
		}
		if f := t.Flags.Lookup(name); f != nil && IsInput(f) {
			return fmt.Errorf("%s: -%s is input, not a setting: give it on the command line", where, name)
		}
		if t.Flags.Lookup(name) == nil {
			if !slices.Contains(ConfigKeys, name) {
				return fmt.Errorf("%s: unknown key %q%s", where, name, didYouMean(name))
			}
			continue
		}
		if set[name] {
			continue
		}
		if err := t.Flags.Set(name, value); err != nil {
			return fmt.Errorf("%s: invalid value %q for -%s: %v", where, value, name, err)
		}
	}
}

// didYouMean suggests the config key closest to name, if one is at most
// two edits away.
func didYouMean(name string) string {
	best, bestD := "", 3
	for _, k := range ConfigKeys {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ": no stolos tool has such a flag"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
