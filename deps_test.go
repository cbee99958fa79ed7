package stolos_test

import (
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/stolos-sched/stolos"

// pkgInfo is one package of the module: what it imports directly and
// everything it links (the standard library included).
type pkgInfo struct {
	imports, deps []string
}

// listPackages runs go list once over the module.
func listPackages(t *testing.T) map[string]pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkgInfo{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			t.Fatalf("go list: unexpected line %q", line)
		}
		pkgs[strings.TrimPrefix(f[0], module+"/")] = pkgInfo{imports: strings.Fields(f[1]), deps: strings.Fields(f[2])}
	}
	return pkgs
}

// local returns the module's packages among paths, without the module
// prefix, and whether any path is outside the module and the standard
// library (its first element has a dot).
func local(paths []string) (mine []string, thirdParty []string) {
	for _, p := range paths {
		switch {
		case strings.HasPrefix(p, module+"/"):
			mine = append(mine, strings.TrimPrefix(p, module+"/"))
		case strings.Contains(strings.SplitN(p, "/", 2)[0], "."):
			thirdParty = append(thirdParty, p)
		}
	}
	return mine, thirdParty
}

// under reports whether package p is dir or inside it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// TestImports keeps the dependencies pointing one way (DESIGN.md, "Code
// layout"): tools on top, then the scheduler and the backends, then the
// configuration and job ids at the bottom.
func TestImports(t *testing.T) {
	pkgs := listPackages(t)
	names := make([]string, 0, len(pkgs))
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Strings(names)

	// Only each backend imports its client library.
	owners := map[string]string{
		"github.com/go-zookeeper/zk":   "lib/store/zookeeper",
		"github.com/redis/go-redis/v9": "lib/store/redis",
		"modernc.org/sqlite":           "lib/store/local",
		// and only stolos-metrics the Prometheus libraries.
		"github.com/prometheus/client_golang/prometheus":          "lib/metrics",
		"github.com/prometheus/client_golang/prometheus/promhttp": "lib/metrics",
		"github.com/prometheus/common/expfmt":                     "lib/metrics",
	}
	// A tool package, lib/X for each cmd/stolos-X, is imported by its
	// command alone: tools share code through the packages below them.
	// Above the tools, the root tests and the documentation generator
	// (lib/docgen and its command) read every tool's flags.
	above := []string{".", "lib/docgen", "lib/docgen/gendocs"}
	// A command's tool package is the one package of the module it
	// imports: lib/X for cmd/stolos-X, but lib/graphviz for stolos-graph,
	// since lib/graph is the pure graph library, and lib/exec for both
	// stolos-exec and stolos (stolos-exec with the original's flags).
	tools := map[string][]string{}
	for _, p := range names {
		if p == "cmd/stolos" || strings.HasPrefix(p, "cmd/stolos-") {
			mine, _ := local(pkgs[p].imports)
			if len(mine) != 1 {
				t.Errorf("%s imports %q; a command imports its tool package alone", p, mine)
				continue
			}
			tools[mine[0]] = append(tools[mine[0]], p)
		}
	}
	// Imports that break the rules today, until the change named fixes them;
	// one that is gone must be removed from here.
	known := map[[2]string]string{}
	seen := map[[2]string]bool{}
	// The pure library: what reads the configuration and job ids, and fills
	// command templates. It imports only itself and the standard library,
	// so whatever only reads the configuration links nothing else.
	pure := []string{"lib/jobid", "lib/command", "lib/config", "lib/graph"}

	for _, p := range names {
		mine, third := local(pkgs[p].imports)
		for _, imp := range third {
			if owner, ok := owners[imp]; ok && p != owner {
				t.Errorf("%s imports %s; only %s may", p, imp, owner)
			}
		}
		for _, imp := range mine {
			if cmds, ok := tools[imp]; ok && !slices.Contains(cmds, p) && !slices.Contains(above, p) {
				if _, ok := known[[2]string{p, imp}]; ok {
					seen[[2]string{p, imp}] = true
					continue
				}
				t.Errorf("%s imports the tool package %s; only %s may", p, imp, strings.Join(cmds, " and "))
			}
			// lib/sched is the one way to job state: it alone opens a
			// backend (above the tools, tests may too).
			if imp == "lib/backend" && p != "lib/sched" && !slices.Contains(above, p) {
				t.Errorf("%s imports lib/backend; only lib/sched opens backends", p)
			}
			// lib/testenv, the rule for a missing server or tool,
			// is a leaf that test helpers anywhere use.
			if under(p, "lib/store") && !under(imp, "lib/store") && imp != "lib/testenv" {
				t.Errorf("%s imports %s; the store knows nothing above it", p, imp)
			}
			if slices.Contains(pure, p) && !slices.Contains(pure, imp) {
				t.Errorf("%s imports %s; it may import only %s", p, imp, strings.Join(pure, ", "))
			}
		}
		if p == "lib/testenv" && (len(mine) > 0 || len(third) > 0) {
			t.Errorf("lib/testenv imports %s; it is a leaf: only the standard library", strings.Join(append(mine, third...), ", "))
		}
		if slices.Contains(pure, p) && len(third) > 0 {
			t.Errorf("%s imports %s; it may import only the standard library and %s", p, strings.Join(third, ", "), strings.Join(pure, ", "))
		}
	}

	for k, why := range known {
		if !seen[k] {
			t.Errorf("%s no longer imports %s (%s): remove the exception from deps_test.go", k[0], k[1], why)
		}
	}

	// The graph tools read the configuration and job ids and nothing
	// else: no backend, no scheduler, no process reaper, no code from
	// outside the standard library.
	for _, tool := range []string{"cmd/stolos-expand", "cmd/stolos-parents", "cmd/stolos-children"} {
		info, ok := pkgs[tool]
		if !ok {
			t.Errorf("go list: no package %s", tool)
			continue
		}
		mine, third := local(info.deps)
		for _, dep := range mine {
			for _, banned := range []string{"lib/store", "lib/sched", "lib/backend", "lib/runner"} {
				if under(dep, banned) {
					t.Errorf("%s links %s", tool, dep)
				}
			}
		}
		for _, dep := range third {
			t.Errorf("%s links %s", tool, dep)
		}
	}
}
