// Package docgen writes the parts of the man pages and shell completions
// that the tools' flag sets decide, so that each flag is documented once:
// the entries of the shared flags in every man page (between the lines
// `.\" BEGIN GENERATED flags` and `.\" END GENERATED`, from flags.mdoc),
// and the completion files' table of tools and flags, their app-name
// program (apps.awk) and zsh's #compdef line. The rest of each file is
// hand-written and left as it is.
//
// Run it with `make docs` (go generate ./internal/docgen); the root
// package's TestDocGenerated regenerates into memory and fails on any
// difference.
package docgen

//go:generate go run ./gendocs ../..

import (
	"bytes"
	_ "embed"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stolos-sched/stolos/lib/children"
	"github.com/stolos-sched/stolos/lib/claim"
	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/exec"
	"github.com/stolos-sched/stolos/lib/expand"
	"github.com/stolos-sched/stolos/lib/graphviz"
	"github.com/stolos-sched/stolos/lib/parents"
	"github.com/stolos-sched/stolos/lib/state"
	"github.com/stolos-sched/stolos/lib/submit"
)

// Tool is a stolos command and its flag set.
type Tool struct {
	Name string
	New  func() *cli.Tool // the tool with its flags, as Main sets it up
}

// Tools lists every stolos command, in the order of a pipeline (the
// order of the completion tables and zsh's #compdef line).
func Tools() []Tool {
	return []Tool{
		{"stolos-expand", expand.Tool},
		{"stolos-parents", parents.Tool},
		{"stolos-children", children.Tool},
		{"stolos-submit", submit.Tool},
		{"stolos-claim", claim.Tool},
		{"stolos-state", state.Tool},
		{"stolos-exec", exec.Tool},
		{"stolos-graph", graphviz.Tool},
	}
}

// Env is the environment variable that sets flag name.
func Env(name string) string {
	if name == "a" || name == "app-name" {
		return "STOLOS_APP_NAME"
	}
	return "STOLOS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// IsBool says whether f is a boolean flag (one that takes no value).
func IsBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagsOf lists the flags of fs in name order.
func flagsOf(fs *flag.FlagSet) []*flag.Flag {
	var out []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { out = append(out, f) })
	return out
}

// Files regenerates the generated parts of the man pages and completion
// files under root, and returns each file's whole new text by its path
// relative to root (slash-separated). It writes nothing.
func Files(root string) (map[string][]byte, error) {
	entries, err := parseEntries(flagsMdoc)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	used := map[*entry]bool{}
	for _, t := range Tools() {
		path := "man/" + t.Name + ".1"
		old, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			return nil, err
		}
		text, err := manPage(string(old), entries, t.New().Flags, used)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		out[path] = []byte(text)
	}
	for _, e := range entries {
		if !used[e] {
			return nil, fmt.Errorf("internal/docgen/flags.mdoc:%d: the entry is in no page", e.line)
		}
	}
	table, err := completionTable()
	if err != nil {
		return nil, err
	}
	for _, c := range completionFiles {
		old, err := os.ReadFile(filepath.Join(root, c.path))
		if err != nil {
			return nil, err
		}
		text, err := replace(string(old), "# BEGIN GENERATED table", "# END GENERATED", c.open+"\n"+table+"'\n")
		if err == nil {
			text, err = replaceApps(text)
		}
		if err == nil && c.compdef {
			text, err = compdef(text)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", c.path, err)
		}
		out[c.path] = []byte(text)
	}
	return out, nil
}

// Write regenerates the files under root in place, and returns the paths
// it changed.
func Write(root string) ([]string, error) {
	files, err := Files(root)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, path := range slices.Sorted(maps.Keys(files)) {
		full := filepath.Join(root, path)
		old, err := os.ReadFile(full)
		if err != nil {
			return changed, err
		}
		if bytes.Equal(old, files[path]) {
			continue
		}
		if err := os.WriteFile(full, files[path], 0o666); err != nil {
			return changed, err
		}
		changed = append(changed, path)
	}
	return changed, nil
}

// replace replaces the lines between the line starting with begin and the
// next line starting with end (both kept; leading blanks ignored) by body.
func replace(text, begin, end, body string) (string, error) {
	lines := strings.SplitAfter(text, "\n")
	from, to := -1, -1
	for i, l := range lines {
		l = strings.TrimLeft(l, " \t")
		switch {
		case strings.HasPrefix(l, begin) && from < 0:
			from = i
		case strings.HasPrefix(l, begin):
			return "", fmt.Errorf("two lines %q", begin)
		case strings.HasPrefix(l, end) && from >= 0 && to < 0:
			to = i
		}
	}
	if from < 0 || to < 0 {
		return "", fmt.Errorf("no lines %q ... %q around the generated part", begin, end)
	}
	return strings.Join(lines[:from+1], "") + body + strings.Join(lines[to:], ""), nil
}
