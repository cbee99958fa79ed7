package stolos_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the layout honest: only the ZooKeeper backend imports
// the ZooKeeper client, only the Redis backend (and tests) import go-redis,
// and the graph tools depend on neither, nor on SQLite.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	owners := map[string]string{
		"github.com/go-zookeeper/zk":   "github.com/stolos-sched/stolos/lib/store/zookeeper",
		"github.com/redis/go-redis/v9": "github.com/stolos-sched/stolos/lib/store/redis",
		"modernc.org/sqlite":           "github.com/stolos-sched/stolos/lib/store/local",
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			if owner, ok := owners[imp]; ok && fields[0] != owner {
				t.Errorf("%s imports %s; only %s may", fields[0], imp, owner)
			}
		}
	}
	for _, tool := range []string{"stolos-expand", "stolos-parents", "stolos-children"} {
		out, err := exec.Command("go", "list", "-deps", "./cmd/"+tool).Output()
		if err != nil {
			t.Fatalf("go list -deps: %v", err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if _, bad := owners[dep]; bad || strings.Contains(dep, "/lib/store") {
				t.Errorf("%s depends on %s", tool, dep)
			}
		}
	}
}
