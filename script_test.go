package stolos_test

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/stolos-sched/stolos/lib/children"
	"github.com/stolos-sched/stolos/lib/expand"
	"github.com/stolos-sched/stolos/lib/parents"
)

var update = flag.Bool("u", false, "rewrite testscript golden files")

// tools maps every stolos command to its Main, for testscript and for the
// documentation checks.
var tools = map[string]func(args []string) int{
	"stolos-expand":   func(a []string) int { return expand.Main(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos-parents":  func(a []string) int { return parents.Main(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos-children": func(a []string) int { return children.Main(a, os.Stdin, os.Stdout, os.Stderr) },
}

func TestMain(m *testing.M) {
	cmds := map[string]func(){}
	for name, run := range tools {
		cmds[name] = func() { os.Exit(run(os.Args[1:])) }
	}
	testscript.Main(m, cmds)
}

func TestScripts(t *testing.T) {
	t.Parallel()
	examples, err := filepath.Abs(filepath.Join("..", "shared", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("STOLOS_EXAMPLES_DIR"); dir != "" {
		examples = dir
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Setup: func(e *testscript.Env) error {
			e.Setenv("EXAMPLES", examples)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "examples" {
				_, err := os.Stat(filepath.Join(examples, "tasks.json"))
				if err != nil && os.Getenv("CI") == "true" {
					return false, errors.New("examples folder missing in CI: " + examples)
				}
				return err == nil, nil
			}
			return false, errors.New("unknown condition " + cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status": cmdStatus,
		},
	})
}

// cmdStatus runs a command and asserts its exact exit status:
// status N cmd args...
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: bad exit status %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("status: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}
