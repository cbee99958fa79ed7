package web_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/testenv"
	"github.com/stolos-sched/stolos/lib/web"
)

// ArtifactsEnv names the directory where tests keep what a person may
// want to look at after a run (the browser's screenshots); without it,
// $TMPDIR/stolos-artifacts.
const ArtifactsEnv = "STOLOS_TEST_ARTIFACTS"

// artifacts is the directory of t's artifacts, made empty.
func artifacts(t *testing.T) string {
	base := os.Getenv(ArtifactsEnv)
	if base == "" {
		base = filepath.Join(os.TempDir(), "stolos-artifacts")
	}
	dir := filepath.Join(base, t.Name())
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserPages are the pages the browser loads: one of each kind.
var browserPages = []string{"/", "/app/preprocess", "/job/daily_report/20140602", "/job/preprocess/20140602_1", "/app/nope"}

// TestBrowser loads one page of each kind in headless Chromium, served
// over a real backend (local, and Redis), checks the DOM that Chromium
// built (the same exact texts TestPages checks), and keeps a screenshot
// of each page in the artifacts directory.
func TestBrowser(t *testing.T) {
	testenv.RequireTool(t, "chromium", "chromium")
	dir := artifacts(t)
	t.Logf("screenshots in %s", dir)
	var opt web.Options
	if path, err := exec.LookPath("dot"); err == nil {
		opt.Dot = path
	}
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			f := newFixture(t, be.Open(t))
			srv := f.serve(t, readOnly(f, t), opt)
			for _, path := range browserPages {
				i := slices.IndexFunc(pages, func(p pageCheck) bool { return p.path == path })
				t.Run(path, func(t *testing.T) {
					png := filepath.Join(dir, be.Name+"-"+fileName(path)+".png")
					d := parseDOM(t, chromium(t, srv.URL+path, png))
					pages[i].check(t, d)
					if st, err := os.Stat(png); err != nil || st.Size() == 0 {
						t.Errorf("no screenshot: %v", err)
					}
				})
			}
		})
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// fileName names a page's screenshot after its path.
func fileName(path string) string {
	if path == "/" {
		return "overview"
	}
	return strings.Trim(unsafeName.ReplaceAllString(path, "-"), "-")
}

// chromiumTimeout bounds one run of the browser: a hang fails the test
// instead of stalling it. It decides nothing else.
const chromiumTimeout = 2 * time.Minute

// chromium loads url in a fresh headless Chromium (its own profile
// directory, its own process group, killed whole at the end), writes a
// screenshot to png and returns the DOM as Chromium serializes it after
// loading the page. Chromium runs as root here, so without its sandbox.
func chromium(t *testing.T, url, png string) string {
	t.Helper()
	profile, err := os.MkdirTemp("", "stolos-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile) // best effort: a helper may write late
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chromium", "--headless", "--no-sandbox", "--disable-gpu",
		"--no-first-run", "--hide-scrollbars", "--user-data-dir="+profile, "--window-size=1280,900",
		"--screenshot="+png, "--dump-dom", url)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what it left behind
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, errb.String())
	}
	return out.String()
}
