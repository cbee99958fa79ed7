package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parse runs Run (which calls Parse) on a tool with -a, -n and -b, the environment env and
// a -config file holding conf (none when conf is ""). It returns the flags'
// values, or the status and stderr.
func parse(t *testing.T, env map[string]string, conf string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	tool := New("stolos-x", "stolos-x [-n N]", nil, io.Discard, &stderr)
	var app string
	tool.AppFlag(&app, false)
	tool.JobIDFlag()
	n := tool.Flags.Int("n", 0, "")
	b := tool.Flags.Bool("b", false, "")
	tool.Getenv = func(k string) string { return env[k] }
	if conf != "" {
		path := filepath.Join(t.TempDir(), "x.conf")
		if err := os.WriteFile(path, []byte(conf), 0o666); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"-config", path}, args...)
	}
	ok := false
	status := tool.Run(args, func(context.Context, []string) error {
		ok = true
		return nil
	})
	if !ok {
		out := stderr.String()
		if conf != "" {
			out = strings.ReplaceAll(out, filepath.Dir(args[1]), "DIR")
		}
		return fmt.Sprintf("status %d: %s", status, out)
	}
	out := fmt.Sprintf("a=%s n=%d b=%t", app, *n, *b)
	if ids := tool.JobIDs(); len(ids) > 0 {
		out += fmt.Sprintf(" job-id=%q", ids)
	}
	return out
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		conf string
		args []string
		want string
	}{
		{"defaults", nil, "", nil, "a= n=0 b=false"},
		{"file", nil, "# comment\n\nn 3 # three\nb\na x\n", nil, "a=x n=3 b=true"},
		{"env beats file", map[string]string{"STOLOS_N": "4", "STOLOS_APP_NAME": "y"}, "n 3\na x\n", nil, "a=y n=4 b=false"},
		{"flag beats env", map[string]string{"STOLOS_N": "4"}, "", []string{"-n", "5"}, "a= n=5 b=false"},
		{"empty env is unset", map[string]string{"STOLOS_N": ""}, "n 3\n", nil, "a= n=3 b=false"},
		{"other tools' keys", nil, "qb-redis-host h\nlease 1m\n", nil, "a= n=0 b=false"},
		// The variables stolos-exec sets to describe a job are not settings.
		{"job vars", map[string]string{"STOLOS_APP_NAME": "job", "STOLOS_N": "6", "STOLOS_JOB_VARS": "STOLOS_APP_NAME STOLOS_JOB_ID"}, "a x\n", nil, "a=x n=6 b=false"},
		{"job vars, -a", map[string]string{"STOLOS_APP_NAME": "job", "STOLOS_JOB_VARS": "STOLOS_APP_NAME STOLOS_JOB_ID"}, "", []string{"-a", "z"}, "a=z n=0 b=false"},
		{"unknown key", nil, "n 1\nqueue-backnd zookeeper\n", nil, "status 2: stolos-x: DIR/x.conf:2: unknown key \"queue-backnd\" (did you mean \"queue-backend\"?)\n"},
		{"unknown key, far", nil, "\n\nfrobnicate 1\n", nil, "status 2: stolos-x: DIR/x.conf:3: unknown key \"frobnicate\": no stolos tool has such a flag\n"},
		{"bad value in file", nil, "n x\n", nil, "status 2: stolos-x: DIR/x.conf:1: invalid value \"x\" for -n: parse error\n"},
		{"bad value in env", map[string]string{"STOLOS_N": "x"}, "", nil, "status 2: stolos-x: STOLOS_N: invalid value \"x\" for -n: parse error\n"},
		{"long line in file", nil, "n 1\n" + strings.Repeat("#", MaxLine+1), nil, "status 2: stolos-x: DIR/x.conf:2: line longer than 1048576 bytes\n"},
		{"bad flag", nil, "", []string{"-m"}, "status 2: stolos-x: flag provided but not defined: -m\nusage: stolos-x [-n N]\n"},
		// The original's spelling: underscores for dashes, one dash or two.
		{"underscores", nil, "", []string{"--app_name", "x", "-n", "2"}, "a=x n=2 b=false"},
		{"underscores and =", nil, "", []string{"-app_name=y"}, "a=y n=0 b=false"},
		{"a value is not a flag", nil, "", []string{"-a", "--app_name", "-b"}, "a=--app_name n=0 b=true"},
		{"not after the flags", nil, "", []string{"-b", "x", "--app_name", "y"}, "a= n=0 b=true"},
		{"job ids are not settings", map[string]string{"STOLOS_JOB_ID": "7"}, "job-id 8\n", []string{"-n", "1"}, "status 2: stolos-x: DIR/x.conf:1: -job-id is input, not a setting: give it on the command line\n"},
		{"job ids not from the environment", map[string]string{"STOLOS_JOB_ID": "7"}, "", []string{"--job_id", "1", "-job-id=2"}, `a= n=0 b=false job-id=["1" "2"]`},
		{"unknown underscored flag", nil, "", []string{"--no_such", "1"}, "status 2: stolos-x: flag provided but not defined: -no_such\nusage: stolos-x [-n N]\n"},
	} {
		if got := parse(t, tc.env, tc.conf, tc.args...); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"a", "", 1}, {"queue-backnd", "queue-backend", 1}, {"kitten", "sitting", 3}, {"lease", "lesae", 2}} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// FuzzConfigFile feeds arbitrary -config files to Parse: it never panics,
// and a file it refuses gets exit status 2 and exactly one line on stderr,
// naming the file.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"a app1\nn 3\nb\n",
		"# comment\n\nn 3 # trailing\n",
		"queue-backnd zookeeper\n",
		"n x\n",
		"n\t3\n",
		"a \"quoted\"\r\n",
		"\x00\xff\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, conf string) {
		if conf == "" {
			return // parse's "no file"
		}
		out := parse(t, nil, conf)
		if strings.HasPrefix(out, "a=") {
			return
		}
		msg, ok := strings.CutPrefix(out, "status 2: stolos-x: DIR/x.conf")
		if !ok || !strings.HasSuffix(msg, "\n") || strings.Count(msg, "\n") != 1 {
			t.Fatalf("refused config %q: want status 2 and one line naming the file, got %q", conf, out)
		}
	})
}
