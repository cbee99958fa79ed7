package stolos_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/stolos-sched/stolos/lib/backend"
	"github.com/stolos-sched/stolos/lib/children"
	"github.com/stolos-sched/stolos/lib/claim"
	"github.com/stolos-sched/stolos/lib/conftool"
	"github.com/stolos-sched/stolos/lib/dot/dottest"
	stexec "github.com/stolos-sched/stolos/lib/exec"
	"github.com/stolos-sched/stolos/lib/expand"
	"github.com/stolos-sched/stolos/lib/graphviz"
	"github.com/stolos-sched/stolos/lib/metrics"
	"github.com/stolos-sched/stolos/lib/parents"
	"github.com/stolos-sched/stolos/lib/progress"
	"github.com/stolos-sched/stolos/lib/runner"
	"github.com/stolos-sched/stolos/lib/state"
	"github.com/stolos-sched/stolos/lib/store/redis/redistest"
	"github.com/stolos-sched/stolos/lib/store/zookeeper/zktest"
	"github.com/stolos-sched/stolos/lib/submit"
	"github.com/stolos-sched/stolos/lib/testenv"
	"github.com/stolos-sched/stolos/lib/web"
)

var update = flag.Bool("u", false, "rewrite testscript golden files")

// tools maps every stolos command to its Main, for testscript and for the
// documentation checks.
var tools = map[string]func(args []string) int{
	"stolos-expand":   func(a []string) int { return expand.Main(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos-parents":  func(a []string) int { return parents.Main(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos-children": func(a []string) int { return children.Main(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos-submit":   func(a []string) int { return submit.Main(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos-claim":    func(a []string) int { return claim.Main(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos-state":    func(a []string) int { return state.Main(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos-exec":     func(a []string) int { return stexec.Main(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos-graph":    func(a []string) int { return graphviz.Main(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos-web":      func(a []string) int { return web.Main(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos-progress": func(a []string) int { return progress.Main(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos-metrics":  func(a []string) int { return metrics.Main(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos":          func(a []string) int { return stexec.FrontMain(a, os.Stdin, os.Stdout, os.Stderr) },
	"stolos-config":   func(a []string) int { return conftool.Main(a, os.Stdin, os.Stdout, os.Stderr) },
}

func TestMain(m *testing.M) {
	// stolos-exec starts its own executable (here, this test binary) as
	// the reaper of each command.
	if len(os.Args) > 1 && os.Args[1] == stexec.ReaperArg {
		os.Exit(runner.ReaperMain(os.Args[2:]))
	}
	cmds := map[string]func(){}
	for name, run := range tools {
		cmds[name] = func() { os.Exit(run(os.Args[1:])) }
	}
	testscript.Main(serversM{m}, cmds)
}

// serversM stops the test servers that the backend scripts started, after
// every test ran.
type serversM struct{ m *testing.M }

func (s serversM) Run() int {
	code := s.m.Run()
	for _, stop := range servers.stops {
		stop()
	}
	return code
}

// servers are the Redis and ZooKeeper servers shared by every backend
// script of this test binary, started on first use.
var servers struct {
	redisOnce, zkOnce sync.Once
	redis             *redistest.Server
	redisErr          error
	zk                *zktest.Server
	zkErr             error
	stops             []func()
	mu                sync.Mutex
}

// namespaces numbers the Redis key prefixes and ZooKeeper chroots handed
// to scripts.
var namespaces atomic.Int64

func redisServer(t *testing.T) *redistest.Server {
	servers.redisOnce.Do(func() {
		var stop func()
		servers.redis, stop, servers.redisErr = redistest.StartMain()
		servers.mu.Lock()
		servers.stops = append(servers.stops, stop)
		servers.mu.Unlock()
	})
	if servers.redisErr != nil {
		t.Fatalf("redis: %v", servers.redisErr)
	}
	servers.redis.Require(t)
	return servers.redis
}

func zkServer(t *testing.T) *zktest.Server {
	servers.zkOnce.Do(func() {
		var stop func()
		servers.zk, stop, servers.zkErr = zktest.StartMain()
		servers.mu.Lock()
		servers.stops = append(servers.stops, stop)
		servers.mu.Unlock()
	})
	return zktest.Require(t, servers.zk, servers.zkErr)
}

// TestBackendScripts runs every script of testdata/script/backend once on
// each backend, each script in a namespace of its own.
func TestBackendScripts(t *testing.T) {
	t.Parallel()
	for _, b := range backend.Names {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"STOLOS_QUEUE_BACKEND": b}
			var redisSrv *redistest.Server
			var zkSrv *zktest.Server
			switch b {
			case "redis":
				redisSrv = redisServer(t)
				// A server with a password, for the wrong-password scripts.
				pw := redistest.StartConfig(t, redistest.Config{Password: "sekrit"})
				env["REDIS_PASSWORD_PORT"] = strconv.Itoa(pw.Port())
			case "zookeeper":
				zkSrv = zkServer(t)
			}
			testscript.Run(t, testscript.Params{
				Dir:                 filepath.Join("testdata", "script", "backend"),
				RequireExplicitExec: true,
				RequireUniqueNames:  true,
				UpdateScripts:       *update,
				Setup: func(e *testscript.Env) error {
					for k, v := range env {
						e.Setenv(k, v)
					}
					e.Setenv("BACKEND", b)
					// What the tools keep by default (the attempts' logs)
					// goes under the script's own directory.
					e.Setenv("XDG_STATE_HOME", filepath.Join(e.WorkDir, "state"))
					ns := "t" + strconv.FormatInt(namespaces.Add(1), 10)
					switch b {
					case "local":
						e.Setenv("STOLOS_QB_LOCAL_PATH", filepath.Join(e.WorkDir, "stolos.db"))
					case "redis":
						e.Setenv("STOLOS_QB_REDIS_HOST", redisSrv.Host())
						e.Setenv("STOLOS_QB_REDIS_PORT", strconv.Itoa(redisSrv.Port()))
						e.Setenv("STOLOS_QB_REDIS_KEY_PREFIX", "script:"+ns+":")
					case "zookeeper":
						e.Setenv("STOLOS_QB_ZOOKEEPER_HOSTS", zkSrv.Hosts()+"/script/"+ns)
					}
					return nil
				},
				Condition: func(cond string) (bool, error) {
					if name, ok := strings.CutPrefix(cond, "backend:"); ok {
						return name == b, nil
					}
					return condition(cond)
				},
				Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
					"status":     cmdStatus,
					"redis-hset": cmdRedisHset,
					"svg-titles": cmdSVGTitles,
				},
			})
		})
	}
}

// cmdRedisHset writes hash fields into the test Redis server:
// redis-hset KEY FIELD VALUE [FIELD VALUE ...]
func cmdRedisHset(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 || len(args)%2 != 1 {
		ts.Fatalf("usage: redis-hset KEY FIELD VALUE [FIELD VALUE ...]")
	}
	c := goredis.NewClient(&goredis.Options{Addr: ts.Getenv("STOLOS_QB_REDIS_HOST") + ":" + ts.Getenv("STOLOS_QB_REDIS_PORT")})
	defer c.Close()
	vals := make([]any, 0, len(args)-1)
	for _, a := range args[1:] {
		vals = append(vals, a)
	}
	if err := c.HSet(context.Background(), args[0], vals...).Err(); err != nil {
		ts.Fatalf("redis-hset: %v", err)
	}
}

func TestScripts(t *testing.T) {
	t.Parallel()
	// The original's examples, copied into the repository: scripts read
	// nothing outside it, and a missing file fails rather than skips.
	examples, err := filepath.Abs(filepath.Join("testdata", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tasks.json", "validations.json"} {
		if _, err := os.Stat(filepath.Join(examples, name)); err != nil {
			t.Fatalf("example file missing: %v", err)
		}
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Setup: func(e *testscript.Env) error {
			e.Setenv("EXAMPLES", examples)
			e.Setenv("XDG_STATE_HOME", filepath.Join(e.WorkDir, "state"))
			return nil
		},
		Condition: condition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":     cmdStatus,
			"writelines": cmdWritelines,
			"svg-titles": cmdSVGTitles,
			"waitfor":    cmdWaitfor,
		},
	})
}

// condition answers the scripts' own conditions: [dot], GraphViz's dot
// can run (a script skips its drawing step without it); [promtool],
// Prometheus's promtool can run (it checks stolos-metrics' output); under
// STOLOS_TEST_REQUIRE_SERVERS=1 a missing tool fails the script.
func condition(cond string) (bool, error) {
	switch cond {
	case "dot":
		return dottest.Condition()
	case "promtool":
		return testenv.Condition("promtool", "prometheus")
	}
	return false, errors.New("unknown condition " + cond)
}

// cmdSVGTitles draws a DOT file with dot -Tsvg (a warning fails) and
// compares the titles of the drawing's nodes, in order, with the lines of
// a file: svg-titles DOTFILE TITLESFILE
func cmdSVGTitles(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: svg-titles DOTFILE TITLESFILE")
	}
	svg, err := dottest.SVG([]byte(ts.ReadFile(args[0])))
	ts.Check(err)
	titles, err := dottest.Titles(svg)
	ts.Check(err)
	got := strings.Join(titles, "\n") + "\n"
	if want := ts.ReadFile(args[1]); got != want {
		ts.Fatalf("svg node titles of %s:\n%s\nwant (%s):\n%s", args[0], got, args[1], want)
	}
}

// cmdWritelines writes a file of lines, for inputs too long to keep in a
// script: writelines FILE LINE...; a LINE "C*N" is N times the byte C.
func cmdWritelines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: writelines FILE LINE...")
	}
	var b strings.Builder
	for _, l := range args[1:] {
		if c, n, ok := strings.Cut(l, "*"); ok && len(c) == 1 {
			k, err := strconv.Atoi(n)
			ts.Check(err)
			l = strings.Repeat(c, k)
		}
		b.WriteString(l + "\n")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(b.String()), 0o666))
}

// cmdWaitfor waits until a file (the stderr of a command in the
// background, say) has a line matching a regular expression, for at most
// a minute: waitfor FILE REGEXP
func cmdWaitfor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfor FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	deadline := time.Now().Add(time.Minute)
	for {
		data, err := os.ReadFile(ts.MkAbs(args[0]))
		if err == nil && re.Match(data) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfor: no line of %s matched %q in a minute:\n%s", args[0], args[1], data)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
