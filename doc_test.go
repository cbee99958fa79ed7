package stolos_test

import (
	"flag"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/docgen"
)

// toolFlags maps every stolos command to its flag set, for the checks that
// keep the man pages and shell completions in step with the code.
var toolFlags = func() map[string]func() *cli.Tool {
	m := map[string]func() *cli.Tool{}
	for _, t := range docgen.Tools() {
		m[t.Name] = t.New
	}
	return m
}()

// completionFiles are the shell completion files; each holds the same table
// of tools and flags.
var completionFiles = []string{"completions/stolos.bash", "completions/_stolos", "completions/stolos.fish"}

// flagInfo is one flag of a tool.
type flagInfo struct {
	name  string
	env   string // the environment variable that sets it
	bool  bool
	input bool // input, not a setting: no variable (cli.IsInput)
}

// toolFlagList lists a tool's flags in name order.
func toolFlagList(tool string) []flagInfo {
	var out []flagInfo
	toolFlags[tool]().Flags.VisitAll(func(f *flag.Flag) {
		out = append(out, flagInfo{name: f.Name, env: docgen.Env(f.Name), bool: docgen.IsBool(f), input: cli.IsInput(f)})
	})
	return out
}

func sortedTools() []string {
	var out []string
	for name := range toolFlags {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cli.ConfigKeys, the keys a -config file may hold, are the flags of the
// tools, each once, in order.
func TestConfigKeysAreTheFlags(t *testing.T) {
	seen := map[string]bool{}
	for _, tool := range sortedTools() {
		for _, f := range toolFlagList(tool) {
			if !f.input {
				seen[f.name] = true
			}
		}
	}
	var want []string
	for name := range seen {
		want = append(want, name)
	}
	slices.Sort(want)
	if !slices.Equal(cli.ConfigKeys, want) {
		t.Errorf("cli.ConfigKeys (lib/cli/parse.go) is\n%q\nbut the tools' flags are\n%q", cli.ConfigKeys, want)
	}
}

// Every tool has a man page, and every man page a tool.
func TestDocToolsHavePages(t *testing.T) {
	for name := range tools {
		if toolFlags[name] == nil {
			t.Errorf("tool %s is not in toolFlags (doc_test.go)", name)
		}
	}
	for _, name := range sortedTools() {
		if tools[name] == nil {
			t.Errorf("toolFlags names %s, which is not in tools (script_test.go)", name)
		}
		if got := toolFlags[name]().Name; got != name {
			t.Errorf("toolFlags[%q]().Name = %q", name, got)
		}
		if _, err := os.Stat(filepath.Join("man", name+".1")); err != nil {
			t.Errorf("tool %s has no man page: %v", name, err)
		}
	}
	pages, err := filepath.Glob(filepath.Join("man", "stolos-*.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		if name := strings.TrimSuffix(filepath.Base(p), ".1"); toolFlags[name] == nil {
			t.Errorf("stale man page %s: no tool %s in toolFlags", p, name)
		}
	}
	if _, err := os.Stat(filepath.Join("man", "stolos.7")); err != nil {
		t.Errorf("no overview page: %v", err)
	}
}

// Every flag is documented with .Fl and its variable with .Ev in the tool's
// page, and its usage string names the variable.
func TestDocManPagesCoverFlags(t *testing.T) {
	for _, tool := range sortedTools() {
		page := filepath.Join("man", tool+".1")
		b, err := os.ReadFile(page)
		if err != nil {
			t.Errorf("%s: %v", tool, err)
			continue
		}
		text := string(b)
		// The .It lines, each joined with its continuation lines.
		items := regexp.MustCompile(`(?m)^\.It (?:.*\\\n)*.*$`).FindAllString(text, -1)
		for _, f := range toolFlagList(tool) {
			fl := regexp.MustCompile(`Fl ` + regexp.QuoteMeta(f.name) + `(\s|$)`)
			if !slices.ContainsFunc(items, fl.MatchString) {
				t.Errorf("%s: flag -%s is not documented (want an .It line with \"Fl %s\")", page, f.name, f.name)
			}
			if f.input {
				continue // no variable sets it (cli.IsInput)
			}
			if !regexp.MustCompile(`Ev ` + f.env + `\b`).MatchString(text) {
				t.Errorf("%s: flag -%s: its variable is not documented (want \"Ev %s\")", page, f.name, f.env)
			}
			usage := toolFlags[tool]().Flags.Lookup(f.name).Usage
			if !strings.Contains(usage, f.env) && !strings.HasPrefix(usage, "same as -") {
				t.Errorf("%s -%s: usage %q does not name %s", tool, f.name, usage, f.env)
			}
		}
	}
}

// The generated parts of the man pages and completion files are what
// lib/docgen writes from the flag sets now (make docs rewrites them).
func TestDocGenerated(t *testing.T) {
	files, err := docgen.Files(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range slices.Sorted(maps.Keys(files)) {
		old := strings.SplitAfter(readFile(t, path), "\n")
		want := strings.SplitAfter(string(files[path]), "\n")
		for i := range max(len(old), len(want)) {
			if i >= len(old) || i >= len(want) || old[i] != want[i] {
				var got, gen string
				if i < len(old) {
					got = old[i]
				}
				if i < len(want) {
					gen = want[i]
				}
				t.Errorf("%s:%d is %q, but lib/docgen makes it %q: run make docs", path, i+1, got, gen)
				break
			}
		}
	}
}

// completionTable is the table of tools and flags in a completion file.
type completionTable struct {
	tools map[string][]string // tool -> flag names, in table order
	kinds map[string]string   // flag -> "-", "file", "app", "word" or a|b|c
	descs map[string]string
	text  string // the table's lines, for comparing files
}

var (
	toolLine = regexp.MustCompile(`(?m)^tool (\S+)((?: +\S+)*) *$`)
	flagLine = regexp.MustCompile(`(?m)^flag (\S+) +(\S+) *(.*)$`)
	awkProg  = regexp.MustCompile(`(?s)# begin stolos app names.*# end stolos app names`)
)

func parseCompletionTable(text string) completionTable {
	c := completionTable{tools: map[string][]string{}, kinds: map[string]string{}, descs: map[string]string{}}
	var lines []string
	for _, m := range toolLine.FindAllStringSubmatch(text, -1) {
		c.tools[m[1]] = strings.Fields(m[2])
		lines = append(lines, m[0])
	}
	for _, m := range flagLine.FindAllStringSubmatch(text, -1) {
		c.kinds[m[1]] = m[2]
		c.descs[m[1]] = m[3]
		lines = append(lines, m[0])
	}
	c.text = strings.Join(lines, "\n")
	return c
}

// Each completion file's table lists exactly the tools and their flags,
// says which flags take no value, and describes each flag.
func TestDocCompletionTables(t *testing.T) {
	var first completionTable
	var firstAwk string
	for i, path := range completionFiles {
		text := readFile(t, path)
		c := parseCompletionTable(text)
		var names []string
		for name := range c.tools {
			names = append(names, name)
		}
		slices.Sort(names)
		if !slices.Equal(names, sortedTools()) {
			t.Errorf("%s: tool lines for %q, want %q", path, names, sortedTools())
		}
		used := map[string]bool{}
		for _, tool := range sortedTools() {
			var want []string
			for _, f := range toolFlagList(tool) {
				want = append(want, f.name)
				used[f.name] = true
				kind, ok := c.kinds[f.name]
				switch {
				case !ok:
					t.Errorf("%s: no \"flag %s\" line (flag -%s of %s)", path, f.name, f.name, tool)
				case f.bool && kind != "-":
					t.Errorf("%s: flag %s is boolean: want kind -, found %q", path, f.name, kind)
				case !f.bool && kind == "-":
					t.Errorf("%s: flag %s takes a value, but its kind is -", path, f.name)
				}
			}
			got := slices.Clone(c.tools[tool])
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: tool %s: flags %q, want %q", path, tool, got, want)
			}
		}
		for name, kind := range c.kinds {
			if !used[name] {
				t.Errorf("%s: stale \"flag %s\" line: no tool has -%s", path, name, name)
			}
			if !regexp.MustCompile(`^(-|file|app|word|[a-z0-9-]+(\|[a-z0-9-]+)+)$`).MatchString(kind) {
				t.Errorf("%s: flag %s: bad kind %q", path, name, kind)
			}
			if d := c.descs[name]; d == "" || strings.ContainsAny(d, `[]:'"\$`) {
				t.Errorf("%s: flag %s: description %q is empty or holds one of [ ] : ' \" \\ $", path, name, d)
			}
		}
		prog := awkProg.FindString(text)
		if prog == "" {
			t.Errorf("%s: no awk program between \"# begin stolos app names\" and \"# end stolos app names\"", path)
		}
		if i == 0 {
			first, firstAwk = c, prog
			continue
		}
		if c.text != first.text {
			t.Errorf("%s: table differs from the one in %s", path, completionFiles[0])
		}
		if prog != firstAwk {
			t.Errorf("%s: app name program differs from the one in %s", path, completionFiles[0])
		}
	}
	// zsh finds the function by the #compdef line.
	line, _, _ := strings.Cut(readFile(t, "completions/_stolos"), "\n")
	got := strings.Fields(strings.TrimPrefix(line, "#compdef"))
	slices.Sort(got)
	if !strings.HasPrefix(line, "#compdef ") || !slices.Equal(got, sortedTools()) {
		t.Errorf("completions/_stolos: first line %q, want #compdef and the tools %q", line, sortedTools())
	}
}

// trickyTasks is a tasks.json whose strings hold braces, quotes and colons.
const trickyTasks = `{ "preprocess" : {"job_id": "{date}_{client_id}", "bash_cmd": "echo \"}{\" : x"},
  "model_build"
    :
  {"depends_on": {"app_name": ["preprocess"], "client_id": "all"}, "x": [{"y": "}"}]},
  "daily_report":{}}
`

var trickyApps = []string{"preprocess", "model_build", "daily_report"}

// run runs a command and returns its stdout lines.
func run(t *testing.T, env []string, name string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%s %q: %v; stderr: %s", name, args, err, stderr.String())
	}
	return strings.FieldsFunc(string(out), func(r rune) bool { return r == '\n' })
}

// shell returns the path of a shell, or skips the test loudly (fails it
// under STOLOS_TEST_REQUIRE_SERVERS=1, as CI runs: the test command
// installs the shells).
func shell(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("STOLOS_TEST_REQUIRE_SERVERS") == "1" || os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (apt-get install %s): its completion file cannot be run", name, name)
		}
		t.Skipf("SKIP: %s is not installed: its completion file is checked as text only", name)
	}
	return p
}

func flagWords(tool string) []string {
	out := []string{"-h", "-version"}
	for _, f := range toolFlagList(tool) {
		out = append(out, "-"+f.name)
	}
	slices.Sort(out)
	return out
}

func checkLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

func TestDocCompletionBash(t *testing.T) {
	bash := shell(t, "bash")
	tasks := filepath.Join(t.TempDir(), "tasks.json")
	if err := os.WriteFile(tasks, []byte(trickyTasks), 0o666); err != nil {
		t.Fatal(err)
	}
	const script = `source completions/stolos.bash || exit
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
_stolos
printf '%s\n' "${COMPREPLY[@]}"`
	complete := func(env []string, words ...string) []string {
		t.Helper()
		return run(t, env, bash, append([]string{"--norc", "--noprofile", "-c", script, "bash"}, words...)...)
	}
	for _, tool := range sortedTools() {
		got := complete(nil, tool, "-")
		slices.Sort(got)
		checkLines(t, tool+" -<TAB>", got, flagWords(tool))
		checkLines(t, "complete -p "+tool, run(t, nil, bash, "--norc", "--noprofile", "-c", "source completions/stolos.bash && complete -p "+tool),
			[]string{"complete -F _stolos " + tool})
	}
	checkLines(t, "stolos-parents -tasks-<TAB>", complete(nil, "stolos-parents", "-tasks-"), []string{"-tasks-json"})
	checkLines(t, "stolos-parents -tasks-json FILE -a <TAB>", complete(nil, "stolos-parents", "-tasks-json", tasks, "-a", ""), trickyApps)
	checkLines(t, "stolos-parents -tasks-json=FILE -app-name=m<TAB>",
		complete(nil, "stolos-parents", "-tasks-json", "=", tasks, "-app-name", "=", "m"), []string{"model_build"})
	env := []string{"STOLOS_TASKS_JSON=" + tasks}
	checkLines(t, "STOLOS_TASKS_JSON stolos-parents -g -a d<TAB>", complete(env, "stolos-parents", "-g", "-a", "d"), []string{"daily_report"})
	checkLines(t, "stolos-expand -configuration-backend <TAB>", complete(nil, "stolos-expand", "-configuration-backend", ""), []string{"json", "redis"})
	// After the first argument the flag package takes no more flags.
	checkLines(t, "stolos-parents JOB_ID -<TAB>", complete(env, "stolos-parents", "20140601_1", "-"), nil)
	checkLines(t, "stolos-parents -a <TAB> without a tasks.json", complete(nil, "stolos-parents", "-a", ""), nil)
}

func TestDocCompletionZsh(t *testing.T) {
	zsh := shell(t, "zsh")
	tasks := filepath.Join(t.TempDir(), "tasks.json")
	if err := os.WriteFile(tasks, []byte(trickyTasks), 0o666); err != nil {
		t.Fatal(err)
	}
	// The completion system's functions are replaced by ones that print
	// what they are given.
	const stubs = `_default() { print -r default }
_arguments() { print -rl -- "$@" }
_wanted() { shift 3; "$@" }
compadd() { [[ $1 == -a ]] && print -rl -- ${(P)2} }
source completions/_stolos >/dev/null || exit
words=("$@"); CURRENT=$#
`
	complete := func(fn string, env []string, words ...string) []string {
		t.Helper()
		return run(t, env, zsh, append([]string{"-f", "-c", stubs + fn, "zsh"}, words...)...)
	}
	spec := regexp.MustCompile(`^(?:\([^)]*\))?-([a-z0-9-]+)(=?)\[`)
	for _, tool := range sortedTools() {
		var got []string
		for _, s := range complete("_stolos", nil, tool, "") {
			if m := spec.FindStringSubmatch(s); m != nil {
				got = append(got, "-"+m[1])
				if f := toolFlags[tool]().Flags.Lookup(m[1]); f != nil {
					b, ok := f.Value.(interface{ IsBoolFlag() bool })
					if isBool := ok && b.IsBoolFlag(); isBool != (m[2] == "") {
						t.Errorf("zsh %s: spec %q: flag -%s boolean is %v", tool, s, m[1], isBool)
					}
				}
			}
		}
		slices.Sort(got)
		checkLines(t, "zsh "+tool+" specs", got, flagWords(tool))
	}
	checkLines(t, "zsh stolos-parents -tasks-json FILE -a <TAB>", complete("_stolos_apps", nil, "stolos-parents", "-tasks-json", tasks, "-a", ""), trickyApps)
	checkLines(t, "zsh STOLOS_TASKS_JSON stolos-parents -a <TAB>", complete("_stolos_apps", []string{"STOLOS_TASKS_JSON=" + tasks}, "stolos-parents", "-a", ""), trickyApps)
	checkLines(t, "zsh other command", complete("_stolos", nil, "stolos-nope", ""), []string{"default"})
}

func TestDocCompletionFish(t *testing.T) {
	fish := shell(t, "fish")
	tasks := filepath.Join(t.TempDir(), "tasks.json")
	if err := os.WriteFile(tasks, []byte(trickyTasks), 0o666); err != nil {
		t.Fatal(err)
	}
	complete := func(env []string, line string) []string {
		t.Helper()
		out := run(t, env, fish, "--no-config", "-c", "source completions/stolos.fish; and complete -C $argv[1]", line)
		for i, l := range out {
			out[i], _, _ = strings.Cut(l, "\t")
		}
		slices.Sort(out) // fish sorts completions itself
		return out
	}
	for _, tool := range sortedTools() {
		got := complete(nil, tool+" -")
		checkLines(t, "fish "+tool+" -<TAB>", got, flagWords(tool))
	}
	checkLines(t, "fish stolos-parents -tasks-<TAB>", complete(nil, "stolos-parents -tasks-"), []string{"-tasks-json"})
	checkLines(t, "fish stolos-parents -tasks-json FILE -a <TAB>", complete(nil, "stolos-parents -tasks-json "+tasks+" -a "), slices.Sorted(slices.Values(trickyApps)))
	checkLines(t, "fish STOLOS_TASKS_JSON stolos-parents -a m<TAB>", complete([]string{"STOLOS_TASKS_JSON=" + tasks}, "stolos-parents -a m"), []string{"model_build"})
	checkLines(t, "fish stolos-expand -configuration-backend <TAB>", complete(nil, "stolos-expand -configuration-backend "), []string{"json", "redis"})
}

// The man pages are clean mdoc.
func TestDocMandocLint(t *testing.T) {
	mandoc, err := exec.LookPath("mandoc")
	if err != nil {
		if os.Getenv("STOLOS_TEST_REQUIRE_SERVERS") == "1" || os.Getenv("CI") == "true" {
			t.Fatal("mandoc is not installed (apt-get install mandoc): the man pages cannot be checked")
		}
		t.Skip("SKIP: mandoc is not installed (apt-get install mandoc): the man pages are not linted")
	}
	pages, err := filepath.Glob(filepath.Join("man", "*.[1-9]"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no man pages: %v", err)
	}
	out, err := exec.Command(mandoc, append([]string{"-Tlint", "-W", "warning"}, pages...)...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("mandoc -Tlint -W warning: %v\n%s", err, out)
	}
}

// make install puts the binaries, pages and completions under
// DESTDIR/PREFIX, with a completion link per tool; make uninstall removes
// them all.
func TestDocMakeInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: make install builds every tool")
	}
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("SKIP: make is not installed")
	}
	tmp := t.TempDir()
	dest := filepath.Join(tmp, "dest")
	vars := []string{"DESTDIR=" + dest, "PREFIX=/usr", "BIN=" + filepath.Join(tmp, "bin"), "VERSION=v0.0.1-test"}
	run(t, nil, mk, append([]string{"-s", "install"}, vars...)...)
	usr := filepath.Join(dest, "usr")
	for _, tool := range sortedTools() {
		checkLines(t, tool+" -version", run(t, nil, filepath.Join(usr, "bin", tool), "-version"), []string{tool + " v0.0.1-test"})
		for link, file := range map[string]string{
			"share/bash-completion/completions/" + tool:         "completions/stolos.bash",
			"share/fish/vendor_completions.d/" + tool + ".fish": "completions/stolos.fish",
		} {
			if got, err := os.ReadFile(filepath.Join(usr, link)); err != nil || string(got) != readFile(t, file) {
				t.Errorf("%s: not %s: %v", link, file, err)
			}
		}
	}
	pages, _ := filepath.Glob(filepath.Join("man", "*.[1-9]"))
	files := map[string]string{
		"share/bash-completion/completions/stolos":    "completions/stolos.bash",
		"share/zsh/site-functions/_stolos":            "completions/_stolos",
		"share/fish/vendor_completions.d/stolos.fish": "completions/stolos.fish",
	}
	for _, p := range pages {
		files["share/man/man"+p[len(p)-1:]+"/"+filepath.Base(p)] = p
	}
	for inst, src := range files {
		if got, err := os.ReadFile(filepath.Join(usr, inst)); err != nil || string(got) != readFile(t, src) {
			t.Errorf("%s: not %s: %v", inst, src, err)
		}
	}
	run(t, nil, mk, append([]string{"-s", "uninstall"}, vars...)...)
	filepath.WalkDir(dest, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("left after make uninstall: %s", path)
		}
		return err
	})
}
