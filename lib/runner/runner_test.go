//go:build linux

package runner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the reaper and as a helper process that runs a
// job (for the kill -9 test).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "__stolos_reaper":
			os.Exit(ReaperMain(os.Args[2:]))
		case "__runner_helper":
			os.Exit(helperMain(os.Args[2:]))
		case "__runner_idle":
			os.Exit(idleMain(os.Args[2:]))
		}
	}
	os.Exit(m.Run())
}

// helperMain runs true, then a bash job with command args[1] and $T set to
// args[0], under one Reaper.
func helperMain(args []string) int {
	r := NewReaper(reaperArgv())
	defer r.Close()
	if o, err := r.Run(context.Background(), testJob(args[0], "true")); err != nil || !o.OK {
		fmt.Println(o.Text, err)
		return 1
	}
	j := testJob(args[0], args[1])
	o, err := r.Run(context.Background(), j)
	fmt.Println(o.Text, err)
	return 0
}

// idleMain runs true under a Reaper, writes the reaper's pid to
// args[0]/reaper and waits to be killed.
func idleMain(args []string) int {
	r := NewReaper(reaperArgv())
	if o, err := r.Run(context.Background(), testJob(args[0], "true")); err != nil || !o.OK {
		fmt.Println(o.Text, err)
		return 1
	}
	pid := strconv.Itoa(r.p.cmd.Process.Pid) + "\n"
	if err := os.WriteFile(filepath.Join(args[0], "reaper"), []byte(pid), 0o644); err != nil {
		fmt.Println(err)
		return 1
	}
	select {}
}

func reaperArgv() []string {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return []string{exe, "__stolos_reaper"}
}

// testJob is job 20140601_42 of app1 running cmd, with $T set to dir.
func testJob(dir, cmd string) Job {
	return Job{
		App:     "app1",
		JobID:   "20140601_42",
		Idents:  []Ident{{"date", "20140601"}, {"client_id", "42"}},
		BashCmd: cmd,
		Environ: os.Environ(),
		Env:     map[string]string{"T": dir},
		Grace:   5 * time.Second,
	}
}

// runOwn runs j under a reaper started with argv for this attempt alone.
func runOwn(ctx context.Context, argv []string, j Job) (Outcome, error) {
	r := NewReaper(argv)
	defer r.Close()
	return r.Run(ctx, j)
}

func run(t *testing.T, ctx context.Context, j Job) Outcome {
	t.Helper()
	o, err := runOwn(ctx, reaperArgv(), j)
	if err != nil {
		t.Fatalf("Run(%q): %v", j.BashCmd, err)
	}
	return o
}

// start runs j on r in the background; its outcome comes on the channel.
func start(t *testing.T, r *Reaper, j Job) <-chan Outcome {
	done := make(chan Outcome, 1)
	go func() {
		o, err := r.Run(context.Background(), j)
		if err != nil {
			t.Error(err)
		}
		done <- o
	}()
	return done
}

// waitFile waits for dir/name to hold a complete line and returns it.
func waitFile(t *testing.T, dir, name string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return strings.TrimSuffix(string(b), "\n")
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitPid waits for the pid written in dir/name.
func waitPid(t *testing.T, dir, name string) int {
	t.Helper()
	s := waitFile(t, dir, name)
	pid, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s holds %q, not a pid", name, s)
	}
	return pid
}

// alive says whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// ended fails the test if pid is still alive, saying so with what (a
// format with a %d for the pid), and kills it.
func ended(t *testing.T, pid int, what string) {
	t.Helper()
	if alive(pid) {
		t.Errorf(what, pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func waitGone(t *testing.T, what string, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still alive", what, pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cmd   string
		extra []string
		want  Outcome
	}{
		{cmd: "true", want: Outcome{Text: "exit 0", OK: true}},
		{cmd: "exit 3", want: Outcome{Text: "exit 3", OK: false}},
		{cmd: "kill -KILL $$", want: Outcome{Text: "signal KILL", OK: false}},
		{cmd: "kill -TERM $$", want: Outcome{Text: "signal TERM", OK: false}},
		{cmd: "kill -SEGV $$", want: Outcome{Text: "signal SEGV", OK: false}},
		{cmd: "notacommand", want: Outcome{Text: "exit 127", OK: false}},
		// Extra words are appended with a space (the original used none).
		{cmd: "test {app_name}", extra: []string{"= app1", "&& exit 5"}, want: Outcome{Text: "exit 5", OK: false}},
		{cmd: "echo {app_name}", extra: []string{"&& notacommand"}, want: Outcome{Text: "exit 127", OK: false}},
		{cmd: "echo {nope}", want: Outcome{Text: `bad command: unknown placeholder {nope} in template "echo {nope}"`}},
		{cmd: "echo {nope", want: Outcome{Text: `bad command: unclosed "{" at byte 5 of template "echo {nope" (write "{{" for a literal brace)`}},
		{cmd: "", want: Outcome{Text: "bad command: empty command", OK: false}},
		{cmd: " \t", want: Outcome{Text: "bad command: empty command", OK: false}},
		{cmd: "true\x00; exit 3", want: Outcome{Text: "start failed: the command, its environment or the directory holds a NUL byte", OK: false}},
	} {
		j := testJob(t.TempDir(), tc.cmd)
		j.Extra = tc.extra
		if o := run(t, context.Background(), j); o != tc.want {
			t.Errorf("Run(%q, extra %q) = %+v, want %+v", tc.cmd, tc.extra, o, tc.want)
		}
	}
}

// TestRequestEncoding: a request comes out of the wire as it went in, and
// what is not a request is refused.
func TestRequestEncoding(t *testing.T) {
	for _, r := range []request{
		{Argv: []string{"/bin/sh", "-c", "echo 'a b'"}, Env: []string{"A=1", "B="}, Dir: "/tmp"},
		{Argv: []string{"/bin/true"}},
		{Argv: []string{"/bin/sh", "", ""}, Env: []string{""}, Dir: ""},
		{Argv: []string{"x=1", "é\n\t"}, Env: []string{"=", "PATH=/bin:/usr/bin"}, Dir: "/a dir/with spaces"},
		{Argv: []string{"/bin/true"}, Deadline: 1234567890123, Grace: 250 * time.Millisecond},
	} {
		b, err := r.encode()
		if err != nil {
			t.Fatalf("encode %#v: %v", r, err)
		}
		back, err := decodeRequest(b)
		if err != nil || !reflect.DeepEqual(nilEmpty(back), nilEmpty(r)) {
			t.Errorf("decode(encode(%#v)) = %#v, %v", r, back, err)
		}
	}
	for _, r := range []request{
		{Argv: []string{"/bin/sh\x00"}},
		{Argv: []string{"/bin/sh"}, Env: []string{"A=\x00"}},
		{Argv: []string{"/bin/sh"}, Dir: "/\x00"},
	} {
		if _, err := r.encode(); err == nil {
			t.Errorf("encode %#v: no error for a NUL byte", r)
		}
	}
	for _, b := range []string{"", "/tmp", "/tmp\x000\x000\x000", "/tmp\x000\x000\x00x\x00/bin/sh",
		"/tmp\x000\x000\x002\x00/bin/sh", "/tmp\x000\x000\x00-1\x00a", "/tmp\x00x\x000\x001\x00/bin/sh",
		"/tmp\x000\x00y\x001\x00/bin/sh"} {
		if r, err := decodeRequest([]byte(b)); err == nil {
			t.Errorf("decode %q = %#v, want an error", b, r)
		}
	}
}

// nilEmpty makes empty lists nil, for comparing.
func nilEmpty(r request) request {
	if len(r.Env) == 0 {
		r.Env = nil
	}
	return r
}

func TestRunOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j := testJob(dir, `echo out {date}; echo err >&2; cat; echo "$PWD"`)
	var stdout, stderr bytes.Buffer
	j.Stdout, j.Stderr = &stdout, &stderr
	if o := run(t, context.Background(), j); o != (Outcome{Text: "exit 0", OK: true}) {
		t.Fatalf("outcome %+v", o)
	}
	wd, _ := os.Getwd()
	if got, want := stdout.String(), "out 20140601\n"+wd+"\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if got := stderr.String(); got != "err\n" {
		t.Errorf("stderr %q, want %q", got, "err\n")
	}

	// Files are handed to the command as they are.
	f, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	j.Stdout, j.Stderr = f, f
	if o := run(t, context.Background(), j); o != (Outcome{Text: "exit 0", OK: true}) {
		t.Fatalf("outcome %+v", o)
	}
	b, _ := os.ReadFile(f.Name())
	if got, want := string(b), "out 20140601\nerr\n"+wd+"\n"; got != want {
		t.Errorf("log %q, want %q", got, want)
	}
}

func TestRunEnv(t *testing.T) {
	t.Parallel()
	j := testJob(t.TempDir(), `printf '%s|' "$STOLOS_APP_NAME" "$STOLOS_JOB_ID" "$date" "$client_id" "$FROM_CONFIG" "$BASE" "$OVER"`)
	j.Environ = []string{"BASE=base", "date=base", "OVER=base", "STOLOS_JOB_ID=base", "PATH=" + os.Getenv("PATH")}
	j.Env = map[string]string{"FROM_CONFIG": "a b", "OVER": "config", "client_id": "config"}
	var stdout bytes.Buffer
	j.Stdout = &stdout
	if o := run(t, context.Background(), j); !o.OK {
		t.Fatalf("outcome %+v", o)
	}
	if got, want := stdout.String(), "app1|20140601_42|20140601|42|a b|base|config|"; got != want {
		t.Errorf("environment %q, want %q", got, want)
	}
}

func TestRunInjection(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	nasty := []string{
		`a$(touch $T/pwned1)b`,
		"c`touch $T/pwned2`d",
		`e'; touch $T/pwned3; echo '`,
		`f"; touch $T/pwned4; echo "`,
		`g;touch $T/pwned5`,
		`h|touch $T/pwned6`,
		`i&&touch $T/pwned7`,
		`j'\''k $HOME *`,
		`-n`,
		``,
	}
	for i, id := range nasty {
		j := testJob(dir, `printf '%s\n' {job_id} {x} > "$T/out"`)
		j.JobID = id
		j.Idents = []Ident{{"x", id}}
		out := fmt.Sprintf("out%d", i)
		j.Env["T"] = dir
		j.BashCmd = strings.ReplaceAll(j.BashCmd, "$T/out", "$T/"+out)
		if o := run(t, context.Background(), j); o != (Outcome{Text: "exit 0", OK: true}) {
			t.Fatalf("job id %q: outcome %+v", id, o)
		}
		b, err := os.ReadFile(filepath.Join(dir, out))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(b), id+"\n"+id+"\n"; got != want {
			t.Errorf("job id %q arrived as %q, want %q", id, got, want)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "pwned") {
			t.Errorf("injected command ran: %s exists", e.Name())
		}
	}
}

func TestRunTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j := testJob(dir, `sleep 1000 & echo $! > "$T/bg"; echo $$ > "$T/sh"; sleep 1000`)
	j.Timeout = 300 * time.Millisecond
	j.Grace = 100 * time.Millisecond
	if o := run(t, context.Background(), j); o != (Outcome{Text: "timeout after 300ms", OK: false}) {
		t.Fatalf("outcome %+v", o)
	}
	waitGone(t, "shell", waitPid(t, dir, "sh"))
	waitGone(t, "background sleep", waitPid(t, dir, "bg"))
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, cmd, trapped string
		grace              time.Duration
	}{
		// SIGTERM trapped: the command ends itself within the grace period
		// (a long one: Run would wait it out if the group did not end).
		{"trapped", `trap 'echo got TERM > "$T/trapped"; exit 7' TERM; echo ready > "$T/ready"; while :; do sleep 0.05; done`, "got TERM", time.Minute},
		// SIGTERM ignored by the shell and its children: SIGKILL after grace.
		{"ignored", `trap '' TERM; echo ready > "$T/ready"; while :; do sleep 0.05; done`, "", 200 * time.Millisecond},
		// Grace 0: SIGKILL at once, the trap never runs.
		{"nograce", `trap 'echo got TERM > "$T/trapped"; exit 7' TERM; echo ready > "$T/ready"; while :; do sleep 0.05; done`, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			j := testJob(dir, `echo $$ > "$T/sh"; `+tc.cmd)
			j.Grace = tc.grace
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				waitFile(t, dir, "ready")
				cancel()
			}()
			if o := run(t, ctx, j); o != (Outcome{Text: "canceled", OK: false}) {
				t.Fatalf("outcome %+v", o)
			}
			waitGone(t, "shell", waitPid(t, dir, "sh"))
			b, _ := os.ReadFile(filepath.Join(dir, "trapped"))
			if got := strings.TrimSpace(string(b)); got != tc.trapped {
				t.Errorf("trap wrote %q, want %q", got, tc.trapped)
			}
		})
	}
}

func TestRunCanceledBeforeStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if o := run(t, ctx, testJob(dir, `touch "$T/ran"`)); o != (Outcome{Text: "canceled", OK: false}) {
		t.Fatalf("outcome %+v", o)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the command ran")
	}
}

// What a command leaves running in its group is ended when it exits.
func TestRunLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j := testJob(dir, `sleep 1000 & echo $! > "$T/bg"`)
	if o := run(t, context.Background(), j); o != (Outcome{Text: "exit 0", OK: true}) {
		t.Fatalf("outcome %+v", o)
	}
	waitGone(t, "background sleep", waitPid(t, dir, "bg"))
}

// What a command leaves running outside its group and session is ended
// too: the reaper is a child subreaper and stops every descendant.
func TestRunLeftoversEscaped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j := testJob(dir, `setsid sleep 1000 & echo $! > "$T/bg"`)
	j.Grace = 100 * time.Millisecond
	if o := run(t, context.Background(), j); o != (Outcome{Text: "exit 0", OK: true}) {
		t.Fatalf("outcome %+v", o)
	}
	bg := waitPid(t, dir, "bg")
	ended(t, bg, "setsid sleep (pid %d) outlived Run")
}

// The deadline of SetDeadline is a dead-man's switch: the reaper stops the
// whole tree (here a shell that ignores SIGTERM and a process in a session
// of its own) by itself when it passes, and the attempt is Expired. A
// deadline moved later before it passes lets the command run on.
func TestRunDeadline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := NewReaper(reaperArgv())
	defer r.Close()
	j := testJob(dir, `trap '' TERM; echo $$ > "$T/sh"; setsid sh -c 'echo $$ > "$T/bg"; exec sleep 1000' & while :; do sleep 0.05; done`)
	j.Grace = 100 * time.Millisecond
	r.SetDeadline(Now().Add(time.Hour)) // moved earlier while it runs
	done := start(t, r, j)
	sh, bg := waitPid(t, dir, "sh"), waitPid(t, dir, "bg")
	deadline := Now().Add(200 * time.Millisecond)
	r.SetDeadline(deadline)
	o := <-done
	late := -deadline.Until()
	if want := (Outcome{Text: "stopped at the lease deadline (signal KILL)", Expired: true}); o != want {
		t.Errorf("outcome %+v, want %+v", o, want)
	}
	for _, p := range []int{sh, bg} {
		ended(t, p, "pid %d outlived the deadline")
	}
	if late < j.Grace {
		t.Errorf("Run returned %v after the deadline, before the grace (%v) was over", late, j.Grace)
	}
	t.Logf("from the deadline to the end of the tree (grace %v): %v", j.Grace, late)
	// A deadline that passed: the next command does not start.
	r.SetDeadline(Now().Add(-time.Millisecond))
	if o, err := r.Run(context.Background(), testJob(dir, `touch "$T/ran"`)); err != nil || o != (Outcome{Text: "lease deadline passed before the command started", Expired: true}) {
		t.Errorf("after the deadline: %+v, %v", o, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("a command ran after its deadline")
	}
	r.SetDeadline(0)
	if o, err := r.Run(context.Background(), testJob(dir, "true")); err != nil || !o.OK {
		t.Errorf("with no deadline: %+v, %v", o, err)
	}
}

// A command that stops its process group (kill -TSTP 0, or the SIGTTIN
// and SIGTTOU of a background group at a terminal) does not stop the
// reaper, which is in that group: the deadline still stops the tree, and
// SIGTERM, followed by SIGCONT, ends the stopped shell.
func TestRunDeadlineGroupStopped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := NewReaper(reaperArgv())
	defer r.Close()
	j := testJob(dir, `echo $$ > "$T/sh"; kill -TSTP 0; kill -TTIN 0; kill -TTOU 0; sleep 1000`)
	j.Grace = 100 * time.Millisecond
	deadline := Now().Add(300 * time.Millisecond)
	r.SetDeadline(deadline)
	done := start(t, r, j)
	sh := waitPid(t, dir, "sh")
	select {
	case o := <-done:
		if want := (Outcome{Text: "stopped at the lease deadline (signal TERM)", Expired: true}); o != want {
			t.Errorf("outcome %+v, want %+v", o, want)
		}
		t.Logf("from the deadline to the end of the tree (grace %v): %v", j.Grace, -deadline.Until())
	case <-time.After(10 * time.Second):
		t.Errorf("Run still running 10s after the deadline: the reaper was stopped with its group")
		_ = syscall.Kill(sh, syscall.SIGKILL)
		_ = syscall.Kill(-r.p.cmd.Process.Pid, syscall.SIGCONT)
		<-done
	}
	ended(t, sh, "pid %d outlived the deadline")
}

func TestRunPlugin(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	write := func(name, text string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("stolos-plugin-echo", "#!/bin/sh\necho \"$STOLOS_APP_NAME $STOLOS_JOB_ID $date $#:$1:$2\"\nexit 4\n", 0o755)
	write("stolos-plugin-noexec", "#!/bin/sh\nexit 0\n", 0o644)
	write("stolos-plugin-garbage", "not a program\n", 0o755)
	if err := os.Mkdir(filepath.Join(bin, "stolos-plugin-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		jobType string
		path    string
		want    Outcome
		stdout  string
	}{
		{jobType: "echo", path: "/nonexistent:" + bin, want: Outcome{Text: "exit 4", OK: false}, stdout: "app1 20140601_42 20140601 2:a b:{c}\n"},
		{jobType: "echo", path: "", want: Outcome{Text: "plugin not found: stolos-plugin-echo", OK: false}},
		{jobType: "nope", path: bin, want: Outcome{Text: "plugin not found: stolos-plugin-nope", OK: false}},
		{jobType: "noexec", path: bin, want: Outcome{Text: "plugin not found: stolos-plugin-noexec", OK: false}},
		{jobType: "dir", path: bin, want: Outcome{Text: "plugin not found: stolos-plugin-dir", OK: false}},
		{jobType: "../" + filepath.Base(bin) + "/stolos-plugin-echo", path: bin, want: Outcome{Text: "plugin not found: stolos-plugin-../" + filepath.Base(bin) + "/stolos-plugin-echo"}},
		{jobType: "garbage", path: bin, want: Outcome{Text: "start failed: " + filepath.Join(bin, "stolos-plugin-garbage") + ": exec format error"}},
	} {
		j := testJob(t.TempDir(), "unused {nope}")
		j.JobType = tc.jobType
		j.Extra = []string{"a b", "{c}"}
		j.Environ = []string{"PATH=" + tc.path}
		var stdout bytes.Buffer
		j.Stdout = &stdout
		if o := run(t, context.Background(), j); o != tc.want {
			t.Errorf("job type %q: outcome %+v, want %+v", tc.jobType, o, tc.want)
		}
		if stdout.String() != tc.stdout {
			t.Errorf("job type %q: stdout %q, want %q", tc.jobType, stdout.String(), tc.stdout)
		}
	}
}

func TestRunCheckCmd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, cmd, check string
		want             Outcome
		ran              bool
	}{
		{"already done", `touch "$T/ran"`, `true`, Outcome{Text: "already done (check_cmd)", OK: true}, false},
		{"done by the run", `touch "$T/ran"`, `test -e "$T/ran"`, Outcome{Text: "exit 0", OK: true}, true},
		{"check fails after", `touch "$T/ran"`, `exit 1`, Outcome{Text: "check failed: exit 1", OK: false}, true},
		{"check killed after", `touch "$T/ran"`, `test -e "$T/ran" && kill -KILL $$; exit 1`, Outcome{Text: "check failed: signal KILL", OK: false}, true},
		{"command fails", `touch "$T/ran"; exit 3`, `false`, Outcome{Text: "exit 3", OK: false}, true},
		{"check uses placeholders", `touch "$T/ran"`, `test {job_id} = 20140601_42 && test -e "$T/ran"`, Outcome{Text: "exit 0", OK: true}, true},
		{"bad check", `touch "$T/ran"`, `test -e {nope}`, Outcome{Text: `bad command: unknown placeholder {nope} in template "test -e {nope}"`}, false},
		{"bad command", `touch {nope}`, `true`, Outcome{Text: `bad command: unknown placeholder {nope} in template "touch {nope}"`}, false},
	} {
		dir := t.TempDir()
		j := testJob(dir, tc.cmd)
		j.CheckCmd = tc.check
		if o := run(t, context.Background(), j); o != tc.want {
			t.Errorf("%s: outcome %+v, want %+v", tc.name, o, tc.want)
		}
		_, err := os.Stat(filepath.Join(dir, "ran"))
		if ran := err == nil; ran != tc.ran {
			t.Errorf("%s: command ran: %v, want %v", tc.name, ran, tc.ran)
		}
	}
}

// The timeout covers the whole attempt, check_cmd runs included.
func TestRunCheckTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j := testJob(dir, `touch "$T/ran"`)
	j.CheckCmd = `test -e "$T/ran" && sleep 1000; exit 1`
	j.Timeout = 200 * time.Millisecond
	j.Grace = 0
	if o := run(t, context.Background(), j); o != (Outcome{Text: "timeout after 200ms", OK: false}) {
		t.Fatalf("outcome %+v", o)
	}
}

// A broken reaper set-up is the runner's error, not the job's outcome.
func TestRunReaperErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reaper []string
		err    string
	}{
		{nil, "no reaper command set up to run jobs"},
		{[]string{"/nonexistent/stolos-exec"}, "start reaper: fork/exec /nonexistent/stolos-exec: no such file or directory"},
		{[]string{"/bin/true"}, "reaper /bin/true ended with exit 0 without reporting; does it run runner.ReaperMain?"},
	} {
		o, err := runOwn(context.Background(), tc.reaper, testJob(t.TempDir(), "true"))
		if err == nil || err.Error() != tc.err {
			t.Errorf("reaper %q: Run = %+v, %v; want error %s", tc.reaper, o, err, tc.err)
		}
	}
}

// ReaperMain refuses to run when not started by the runner.
func TestReaperMainMisuse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"/bin/true"}, "stolos reaper: unexpected arguments\n"},
		{nil, "stolos reaper: not the leader of its process group\n"},
	} {
		cmd := exec.Command(reaperArgv()[0], append(reaperArgv()[1:], tc.args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if cmd.ProcessState.ExitCode() != 2 || stderr.String() != tc.stderr {
			t.Errorf("reaper %q: %v, stderr %q; want exit 2, %q", tc.args, err, stderr.String(), tc.stderr)
		}
	}
	// A group leader without the socket.
	cmd := exec.Command(reaperArgv()[0], reaperArgv()[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if cmd.ProcessState.ExitCode() != 2 || stderr.String() != "stolos reaper: fd 3 is not a socket\n" {
		t.Errorf("reaper without socket: %v, stderr %q", err, stderr.String())
	}
	// A socket and no control pipe.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "mine"), os.NewFile(uintptr(fds[1]), "theirs")
	defer mine.Close()
	defer theirs.Close()
	cmd = exec.Command(reaperArgv()[0], reaperArgv()[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.ExtraFiles = []*os.File{theirs}
	stderr.Reset()
	cmd.Stderr = &stderr
	err = cmd.Run()
	if cmd.ProcessState.ExitCode() != 2 || stderr.String() != "stolos reaper: fd 4 is not a pipe\n" {
		t.Errorf("reaper without control pipe: %v, stderr %q", err, stderr.String())
	}
}

// A Reaper runs job after job in one reaper process, and replaces it when it
// died.
func TestReaperReused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := NewReaper(reaperArgv())
	defer r.Close()
	steps := []struct {
		cmd  string
		want Outcome
	}{
		{`echo $PPID > "$T/p0"`, Outcome{Text: "exit 0", OK: true}},
		{`sleep 1000 & echo $! > "$T/bg"; echo $PPID > "$T/p1"`, Outcome{Text: "exit 0", OK: true}},
		{`echo $PPID > "$T/p2"; exit 3`, Outcome{Text: "exit 3", OK: false}},
		{`echo $PPID > "$T/p3"; kill -KILL $PPID; sleep 1000`, Outcome{Text: "signal KILL", OK: false}},
		{`echo $PPID > "$T/p4"`, Outcome{Text: "exit 0", OK: true}},
	}
	for i, st := range steps {
		o, err := r.Run(context.Background(), testJob(dir, st.cmd))
		if err != nil || o != st.want {
			t.Fatalf("job %d (%s): %+v, %v; want %+v", i, st.cmd, o, err, st.want)
		}
	}
	waitGone(t, "background sleep", waitPid(t, dir, "bg"))
	p := make([]int, len(steps))
	for i := range p {
		p[i] = waitPid(t, dir, fmt.Sprintf("p%d", i))
	}
	if p[1] != p[0] || p[2] != p[0] || p[3] != p[0] || p[4] == p[0] {
		t.Errorf("reaper pids %v, want the first four equal and the last one new", p)
	}
	j := testJob(dir, "false")
	j.CheckCmd = `test $PPID = ` + strconv.Itoa(p[4])
	if o, err := r.Run(context.Background(), j); o != (Outcome{Text: "already done (check_cmd)", OK: true}) || err != nil {
		t.Errorf("check_cmd under the same reaper: %+v, %v", o, err)
	}
	r.Close()
	waitGone(t, "reaper", p[4])
	r.Close()
}

// A reaper that does not answer (here stopped) when its run is stopped:
// after the grace and stopSlack the runner kills its tree itself, what
// left the group included, and then the group.
func TestRunReaperStuck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j := testJob(dir, `setsid sleep 1000 & echo $! > "$T/bg"; echo $PPID > "$T/reaper"; echo $$ > "$T/sh"; wait`)
	j.Grace = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Outcome, 1)
	go func() { done <- run(t, ctx, j) }()
	reaper, sh, bg := waitPid(t, dir, "reaper"), waitPid(t, dir, "sh"), waitPid(t, dir, "bg")
	if err := syscall.Kill(reaper, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	cancel()
	if o := <-done; o != (Outcome{Text: "canceled"}) {
		t.Errorf("outcome %+v", o)
	}
	waitGone(t, "reaper", reaper)
	waitGone(t, "shell", sh)
	ended(t, bg, "setsid sleep (pid %d) outlived its stuck reaper")
}

// kill -9 of the reaper alone: its command dies with it (parent-death
// signal) and the runner ends the rest of the group.
func TestRunReaperKilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	j := testJob(dir, `sleep 1000 & echo $! > "$T/bg"; echo $PPID > "$T/reaper"; echo $$ > "$T/sh"; wait`)
	done := make(chan Outcome, 1)
	go func() { done <- run(t, context.Background(), j) }()
	reaper, sh, bg := waitPid(t, dir, "reaper"), waitPid(t, dir, "sh"), waitPid(t, dir, "bg")
	if err := syscall.Kill(reaper, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if o := <-done; o != (Outcome{Text: "signal KILL", OK: false}) {
		t.Errorf("outcome %+v", o)
	}
	waitGone(t, "shell", sh)
	waitGone(t, "background sleep", bg)
}

// The command dies with its reaper even after leaving the process group
// (setsid keeps the parent-death signal), where the runner cannot reach it.
func TestRunParentDeathSignal(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid program:", err)
	}
	dir := t.TempDir()
	j := testJob(dir, `echo $PPID > "$T/reaper"; exec setsid /bin/sh -c 'echo $$ > "$T/sh"; exec sleep 1000'`)
	done := make(chan Outcome, 1)
	go func() { done <- run(t, context.Background(), j) }()
	reaper, sh := waitPid(t, dir, "reaper"), waitPid(t, dir, "sh")
	t.Cleanup(func() { _ = syscall.Kill(sh, syscall.SIGKILL) })
	if err := syscall.Kill(reaper, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if o := <-done; o != (Outcome{Text: "signal KILL", OK: false}) {
		t.Errorf("outcome %+v", o)
	}
	waitGone(t, "command outside the group", sh)
}

// kill -9 of the program that called Run: the reaper, the shell and the
// shell's background child all die.
func TestRunCallerKilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	killCaller(t, dir, []string{"reaper", "sh", "bg"}, "__runner_helper", dir,
		`sleep 1000 & echo $! > "$T/bg"; echo $PPID > "$T/reaper"; echo $$ > "$T/sh"; wait`)
}

// kill -9 of the program that called Run: the command's descendants that
// left its process group and session (timeout(1), setsid(1)) die too.
func TestRunCallerKilledEscaped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	killCaller(t, dir, []string{"reaper", "to", "child", "bg"}, "__runner_helper", dir,
		`echo $PPID > "$T/reaper"; setsid sh -c 'echo $$ > "$T/bg"; exec sleep 1000' & timeout 1000 sh -c 'echo $PPID > "$T/to"; echo $$ > "$T/child"; exec sleep 1000'`)
}

// kill -9 of the caller between two jobs: the idle reaper goes too.
func TestRunCallerKilledIdle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	killCaller(t, dir, []string{"reaper"}, "__runner_idle", dir)
}

// killCaller starts this test binary with args, waits for the processes
// it writes to the pid files names in dir, kills it with SIGKILL, and
// checks that those processes are gone and that it printed nothing.
func killCaller(t *testing.T, dir string, names []string, args ...string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(exe, args...)
	var out bytes.Buffer
	helper.Stdout, helper.Stderr = &out, &out
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	pids := make([]int, len(names))
	for i, n := range names {
		pids[i] = waitPid(t, dir, n)
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := helper.Wait(); err == nil || err.Error() != "signal: killed" {
		t.Fatalf("helper: %v, output %q", err, out.String())
	}
	for i, n := range names {
		waitGone(t, n, pids[i])
	}
	if out.Len() != 0 {
		t.Errorf("helper printed %q", out.String())
	}
}

// The reaper outlives the thread of the caller that first ran a job: its
// parent-death signal is the caller's death, not that thread's.
func TestReaperOutlivesCallerThread(t *testing.T) {
	t.Parallel()
	r := NewReaper(reaperArgv())
	defer r.Close()
	j := testJob(t.TempDir(), "true")
	first := make(chan int, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if o, err := r.Run(context.Background(), j); err != nil || !o.OK {
			t.Errorf("first run: %+v, %v", o, err)
		}
		first <- r.p.cmd.Process.Pid
	}()
	pid := <-first
	for i := range 20 { // the thread is gone after a few at most
		if o, err := r.Run(context.Background(), j); err != nil || !o.OK {
			t.Fatalf("run %d: %+v, %v", i, o, err)
		}
		if r.p.cmd.Process.Pid != pid {
			t.Fatalf("run %d: reaper %d replaced by %d: it died with the first caller's thread", i, pid, r.p.cmd.Process.Pid)
		}
	}
}

// One job after another under one Reaper, as stolos-exec runs them (with
// a deadline, moved once per job as a renewal would). It reports the
// reaper's context switches and CPU time per job (all its threads).
func BenchmarkRun(b *testing.B) {
	j := testJob(b.TempDir(), "true")
	r := NewReaper(reaperArgv())
	defer r.Close()
	if o, err := r.Run(context.Background(), j); err != nil || !o.OK {
		b.Fatal(o, err)
	}
	pid := r.p.cmd.Process.Pid
	cs0, cpu0 := procCost(b, pid)
	for b.Loop() {
		r.SetDeadline(Now().Add(time.Minute))
		if o, err := r.Run(context.Background(), j); err != nil || !o.OK {
			b.Fatal(o, err)
		}
		r.SetDeadline(0)
	}
	cs1, cpu1 := procCost(b, pid)
	b.ReportMetric(float64(cs1-cs0)/float64(b.N), "reaper-cs/op")
	b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "reaper-cpu-ns/op")
}

// procCost is the context switches (voluntary and not) and the CPU time
// (user and system, in ns) of every thread of process pid so far.
func procCost(b *testing.B, pid int) (switches, cpu int64) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tasks {
		dir := fmt.Sprintf("/proc/%d/task/%s/", pid, t.Name())
		st, err1 := os.ReadFile(dir + "status")
		stat, err2 := os.ReadFile(dir + "stat")
		if err1 != nil || err2 != nil {
			continue // gone
		}
		for _, l := range strings.Split(string(st), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				switches += n
			}
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64) // utime, field 14
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		cpu += (ut + stime) * int64(time.Second/100) // USER_HZ is 100 on Linux
	}
	return switches, cpu
}

// Each job under a reaper of its own.
func BenchmarkRunOwnReaper(b *testing.B) {
	j := testJob(b.TempDir(), "true")
	for b.Loop() {
		if o, err := runOwn(context.Background(), reaperArgv(), j); err != nil || !o.OK {
			b.Fatal(o, err)
		}
	}
}

func BenchmarkShDirect(b *testing.B) {
	for b.Loop() {
		if err := exec.Command(Shell, "-c", "true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}
