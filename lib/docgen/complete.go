package docgen

import (
	_ "embed"
	"flag"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/stolos-sched/stolos/lib/store"
)

// appsAwk is the awk program that lists the app names of a tasks.json,
// which every completion file holds between its lines "# begin stolos app
// names" and "# end stolos app names".
//
//go:embed apps.awk
var appsAwk string

// completionFile is a completion file and the line that opens its table
// (a shell string, closed by a line "'").
type completionFile struct {
	path    string
	open    string
	compdef bool // the first line is zsh's "#compdef TOOL ..."
}

var completionFiles = []completionFile{
	{path: "completions/stolos.bash", open: "_stolos_table='"},
	{path: "completions/_stolos", open: "\tlocal table='", compdef: true},
	{path: "completions/stolos.fish", open: "set -l table '"},
}

// descriptions are the completions' one-line descriptions of the flags
// (fish and zsh show them). They hold none of [ ] : ' " \ $, which the
// shells' specs would take for syntax.
var descriptions = map[string]string{
	"a":                       "the app",
	"app-name":                "the app, as -a",
	"g":                       "add the dependency group",
	"r":                       "recursive, every ancestor or descendant once",
	"readd":                   "queue again in any state, resetting descendants",
	"priority":                "queue priority, lower runs first",
	"max-queued":              "queue nothing if an app would pass this many queued jobs",
	"n":                       "claim up to N jobs",
	"wait":                    "wait this long for work",
	"lease":                   "hold claimed jobs this long",
	"loop":                    "keep claiming and running jobs",
	"all":                     "claim jobs of every app",
	"max-retry":               "failed attempts that make a failure final",
	"log-dir":                 "write each attempt output under this directory (- for stderr)",
	"grace":                   "time from SIGTERM to SIGKILL",
	"bypass-scheduler":        "run the named jobs and change no state",
	"job-id":                  "a job id, as an argument",
	"load":                    "make this tasks.json the configuration in Redis",
	"dump":                    "write the configuration as a tasks.json",
	"bash-cmd":                "words to append to the command, the rest of the line",
	"max-load":                "take no job while the load per core is over this",
	"min-free-mem":            "take no job while available memory is under this",
	"set":                     "set the state of the jobs",
	"force":                   "with -set completed, stop a running job first",
	"list":                    "every known job of the app",
	"state":                   "with -list, only jobs in this state",
	"count":                   "count the jobs of the app by state",
	"history":                 "the recorded attempts of the jobs",
	"log":                     "the log of the latest recorded attempt",
	"attempt":                 "with -log, the attempt with this number",
	"since":                   "with -history, the app attempts that ended since this time",
	"until":                   "with -history -since, only those that ended before this time",
	"json":                    "write JSON objects, one per line",
	"q":                       "quiet, no warnings or progress",
	"up":                      "draw the jobs and their ancestors, by state",
	"down":                    "draw the jobs and their descendants, by state",
	"max":                     "draw at most N jobs, summing up the rest",
	"watch":                   "report again every interval",
	"wait-all":                "report until no job will move, exit 0 if all completed",
	"interval":                "the time between two reports",
	"timeout":                 "wait this long, for a job (stolos) or with -wait-all",
	"window":                  "count the attempts that ended in this last duration",
	"o":                       "write the metrics into this file, atomically",
	"listen":                  "serve over HTTP on this address",
	"tz":                      "time zone of relative dates such as today-7",
	"queue-backend":           "where job state lives",
	"qb-local-path":           "local backend, the SQLite file",
	"qb-zookeeper-hosts":      "zookeeper backend, host and port list and chroot",
	"qb-zookeeper-timeout":    "zookeeper backend, session timeout",
	"qb-zookeeper-auth":       "zookeeper backend, digest user and password",
	"qb-redis-host":           "redis backend, host",
	"qb-redis-port":           "redis backend, port",
	"qb-redis-db":             "redis backend, database number",
	"qb-redis-password":       "redis backend, password",
	"qb-redis-tls":            "redis backend, connect with TLS",
	"qb-redis-key-prefix":     "redis backend, key prefix",
	"history-keep":            "attempts of each job kept in its history",
	"config":                  "read flags from a file",
	"tasks-json":              "the apps configuration, a tasks.json file",
	"job-id-validations":      "identifier rules, a JSON file",
	"job-id-default-template": "job id template of apps without job_id",
	"job-id-delimiter":        "text between the identifiers of a job id",
	"configuration-backend":   "where the configuration is",
	"redis-host":              "configuration backend redis, host",
	"redis-port":              "configuration backend redis, port",
	"redis-db":                "configuration backend redis, database number",
	"redis-password":          "configuration backend redis, password",
	"redis-tls":               "configuration backend redis, connect with TLS",
	"redis-key-prefix":        "configuration backend redis, key prefix",
}

var badDescription = regexp.MustCompile(`^$|[][:'"\\$]`)

// choices are the values the shells offer for flag f, or nil for any: a
// job state for an argument STATE, and for the -...-backend flags the
// list their usage strings end with, "...: a, b or c (env ...)".
func choices(f *flag.Flag) []string {
	arg, usage := flag.UnquoteUsage(f)
	switch {
	case arg == "STATE":
		var out []string
		for _, s := range store.States {
			out = append(out, string(s))
		}
		return out
	case strings.HasSuffix(f.Name, "-backend"):
		_, list, _ := strings.Cut(usage, ": ")
		list, _, _ = strings.Cut(list, " (env ")
		return strings.FieldsFunc(strings.ReplaceAll(list, " or ", ","), func(r rune) bool { return r == ',' || r == ' ' })
	}
	return nil
}

// Kind is what a flag takes, as the completion tables say: "-" for
// nothing, "file", "app", "word" (anything), or choices "a|b|c".
func Kind(f *flag.Flag) string {
	arg, _ := flag.UnquoteUsage(f)
	switch c := choices(f); {
	case IsBool(f):
		return "-"
	case Env(f.Name) == "STOLOS_APP_NAME":
		return "app"
	case c != nil:
		return strings.Join(c, "|")
	case arg == "FILE" || arg == "DIR":
		return "file"
	}
	return "word"
}

// completionTable writes the completion files' table: a line "tool NAME
// FLAG ..." per tool, then a line "flag NAME KIND DESCRIPTION" per flag,
// flags in name order.
func completionTable() (string, error) {
	type row struct{ name, kind, desc string }
	var rows []row
	seen := map[string]bool{}
	var tools []string
	width := 0
	for _, t := range Tools() {
		width = max(width, len(t.Name))
	}
	for _, t := range Tools() {
		var names []string
		for _, f := range flagsOf(t.New().Flags) {
			names = append(names, f.Name)
			if seen[f.Name] {
				continue
			}
			seen[f.Name] = true
			d, ok := descriptions[f.Name]
			if !ok || badDescription.MatchString(d) {
				return "", fmt.Errorf("flag -%s of %s: no completion description in lib/docgen/complete.go, or one holding [ ] : ' \" \\ $", f.Name, t.Name)
			}
			rows = append(rows, row{f.Name, Kind(f), d})
		}
		tools = append(tools, fmt.Sprintf("tool %-*s  %s\n", width, t.Name, strings.Join(names, " ")))
	}
	for name := range descriptions {
		if !seen[name] {
			return "", fmt.Errorf("lib/docgen/complete.go: a description of -%s, which no tool has", name)
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.name, b.name) })
	nw, kw := 0, 0
	for _, r := range rows {
		nw, kw = max(nw, len(r.name)), max(kw, len(r.kind))
	}
	var b strings.Builder
	for _, l := range tools {
		b.WriteString(l)
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "flag %-*s  %-*s  %s\n", nw, r.name, kw, r.kind, r.desc)
	}
	return b.String(), nil
}

// replaceApps writes apps.awk between its first and last lines.
func replaceApps(text string) (string, error) {
	first, _, _ := strings.Cut(appsAwk, "\n")
	last := strings.TrimSuffix(appsAwk, "\n")
	last = last[strings.LastIndex(last, "\n")+1:]
	i := strings.Index(text, first)
	j := strings.Index(text, last)
	if i < 0 || j < i {
		return "", fmt.Errorf("no awk program between %q and %q", first, last)
	}
	return text[:i] + strings.TrimSuffix(appsAwk, "\n") + text[j+len(last):], nil
}

// compdef writes zsh's first line, which names the commands of _stolos.
func compdef(text string) (string, error) {
	line, rest, ok := strings.Cut(text, "\n")
	if !strings.HasPrefix(line, "#compdef ") || !ok {
		return "", fmt.Errorf("the first line is not #compdef")
	}
	var names []string
	for _, t := range Tools() {
		names = append(names, t.Name)
	}
	return "#compdef " + strings.Join(names, " ") + "\n" + rest, nil
}
