package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/store"
)

// fake is a reader with fixed counts and attempts, or an error.
type fake struct {
	mu       sync.Mutex
	counts   map[string]store.Counts
	attempts map[string][]store.Attempt
	err      error
	since    []time.Time // the windows asked for
}

func (f *fake) Count(ctx context.Context, app string) (store.Counts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return store.Counts{}, f.err
	}
	return f.counts[app], nil
}

func (f *fake) AppHistory(ctx context.Context, app string, since, until time.Time, fn func(store.Attempt) error) error {
	f.mu.Lock()
	f.since = append(f.since, since)
	as := f.attempts[app]
	f.mu.Unlock()
	if !until.IsZero() {
		return errors.New("until set")
	}
	for _, a := range as {
		if !a.End.Before(since) {
			if err := fn(a); err != nil {
				return err
			}
		}
	}
	return nil
}

var now = time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)

// attempt is an attempt of app that ended ago before now and lasted d.
func attempt(app string, ago, d time.Duration, outcome string) store.Attempt {
	end := now.Add(-ago)
	return store.Attempt{Ref: store.Ref{App: app, JobID: "x"}, Start: end.Add(-d), End: end, Outcome: outcome}
}

func pipeline() *fake {
	return &fake{
		counts: map[string]store.Counts{
			"ingest": {States: map[store.State]int{store.Pending: 5, store.Completed: 3, store.Failed: 1}, Queued: 4, Claimed: 2, HeadAge: 1500 * time.Millisecond},
		},
		attempts: map[string][]store.Attempt{
			"ingest": {
				attempt("ingest", 2*time.Hour, time.Second, "exit 0"), // before the window
				attempt("ingest", 50*time.Minute, 5*time.Second, "exit 0"),
				attempt("ingest", 40*time.Minute, 45*time.Second, "already done (check_cmd)"),
				attempt("ingest", 30*time.Minute, 2*time.Hour, "exit 3"),
				attempt("ingest", 20*time.Minute, 10*time.Second, store.AbandonedOutcome("stolos-exec@h:1")),
				attempt("ingest", 10*time.Minute, 100*time.Hour, "timeout after 100h"),
				attempt("ingest", time.Minute, time.Minute, store.ReleasedOutcome(true)),
			},
		},
	}
}

func registry(r reader, apps []string, window time.Duration) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&collector{ctx: context.Background(), r: r, apps: apps, window: window, now: func() time.Time { return now }})
	return reg
}

// histogramLines are the lines of one result's histogram, all buckets
// given as cumulative counts in the order of Buckets then +Inf.
func histogramLines(app, result string, sum string, counts ...int) string {
	var b strings.Builder
	les := []string{"10", "30", "60", "300", "900", "1800", "3600", "7200", "21600", "43200", "86400", "+Inf"}
	for i, le := range les {
		b.WriteString("stolos_window_attempt_duration_seconds_bucket{app=\"" + app + "\",result=\"" + result + "\",le=\"" + le + "\"} " + strconv.Itoa(counts[i]) + "\n")
	}
	b.WriteString("stolos_window_attempt_duration_seconds_sum{app=\"" + app + "\",result=\"" + result + "\"} " + sum + "\n")
	b.WriteString("stolos_window_attempt_duration_seconds_count{app=\"" + app + "\",result=\"" + result + "\"} " + strconv.Itoa(counts[len(counts)-1]) + "\n")
	return b.String()
}

const jobsText = `# HELP stolos_jobs Jobs of the app in each state.
# TYPE stolos_jobs gauge
stolos_jobs{app="ingest",state="completed"} 3
stolos_jobs{app="ingest",state="failed"} 1
stolos_jobs{app="ingest",state="pending"} 5
stolos_jobs{app="ingest",state="skipped"} 0
# HELP stolos_jobs_claimed Jobs of the app held under a live lease.
# TYPE stolos_jobs_claimed gauge
stolos_jobs_claimed{app="ingest"} 2
# HELP stolos_jobs_queued Jobs of the app with a queue entry (waiting, delayed or claimed).
# TYPE stolos_jobs_queued gauge
stolos_jobs_queued{app="ingest"} 4
# HELP stolos_queue_head_age_seconds How long the job at the head of the app's queue (the next a worker claims) has been queued; 0 when none waits.
# TYPE stolos_queue_head_age_seconds gauge
stolos_queue_head_age_seconds{app="ingest"} 1.5
`

// TestValues: the exact metrics of known counts and attempts, the
// attempts of the window only, each in its result and bucket.
func TestValues(t *testing.T) {
	f := pipeline()
	var b bytes.Buffer
	if err := write(&b, registry(f, []string{"ingest"}, time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := jobsText +
		"# HELP stolos_window_attempt_duration_seconds Durations of the attempts of the app that ended in the window, by result (over the window: its counts can go down; do not rate() it).\n" +
		"# TYPE stolos_window_attempt_duration_seconds histogram\n" +
		histogramLines("ingest", "abandoned", "10", 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1) +
		histogramLines("ingest", "completed", "50", 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2) +
		histogramLines("ingest", "failed", "367200", 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2) +
		histogramLines("ingest", "stopped", "60", 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1) +
		"# HELP stolos_window_seconds Length of the window of the stolos_window_* metrics: attempts that ended within it before the scrape.\n" +
		"# TYPE stolos_window_seconds gauge\n" +
		"stolos_window_seconds 3600\n"
	if got := b.String(); got != want {
		t.Errorf("metrics:\n%s\nwant:\n%s", got, want)
	}
	if len(f.since) != 1 || !f.since[0].Equal(now.Add(-time.Hour)) {
		t.Errorf("AppHistory since %v, want [%v]", f.since, now.Add(-time.Hour))
	}

	// -window 0: the jobs alone, and no history read.
	f.since = nil
	b.Reset()
	if err := write(&b, registry(f, []string{"ingest"}, 0)); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != jobsText {
		t.Errorf("metrics with no window:\n%s\nwant:\n%s", got, jobsText)
	}
	if f.since != nil {
		t.Errorf("AppHistory read with no window: %v", f.since)
	}
}

// TestReadError: a backend error fails the whole gathering, named by
// app, without the library's wrapping.
func TestReadError(t *testing.T) {
	f := pipeline()
	f.err = errors.New("connection refused")
	var b bytes.Buffer
	err := write(&b, registry(f, []string{"ingest"}, time.Hour))
	if err == nil || err.Error() != "app ingest: connection refused" {
		t.Fatalf("error %v, want app ingest: connection refused", err)
	}
	if b.Len() != 0 {
		t.Errorf("wrote %q", b.String())
	}
}

// TestTextfile: -o replaces the file by a rename, leaving no other file;
// a failed gathering leaves the old file as it was.
func TestTextfile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stolos.prom")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := pipeline()
	if err := writeFile(path, registry(f, []string{"ingest"}, 0)); err != nil {
		t.Fatal(err)
	}
	check := func(want string) {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s:\n%s\nwant:\n%s", path, got, want)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 {
			t.Errorf("files in the directory: %v, want stolos.prom alone", ents)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o644 {
			t.Errorf("mode %v, want 0644", st.Mode().Perm())
		}
	}
	check(jobsText)

	// Rename, not rewrite: a reader holding the old file keeps reading
	// the old metrics.
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	f.counts["ingest"] = store.Counts{}
	if err := writeFile(path, registry(f, []string{"ingest"}, 0)); err != nil {
		t.Fatal(err)
	}
	held, err := io.ReadAll(old)
	if err != nil {
		t.Fatal(err)
	}
	if string(held) != jobsText {
		t.Errorf("the file open before the write changed:\n%s", held)
	}

	f.err = errors.New("connection refused")
	err = writeFile(path, registry(f, []string{"ingest"}, 0))
	if err == nil || err.Error() != "app ingest: connection refused" {
		t.Fatalf("error %v, want app ingest: connection refused", err)
	}
	f.err = nil
	var b bytes.Buffer
	if err := write(&b, registry(f, []string{"ingest"}, 0)); err != nil {
		t.Fatal(err)
	}
	check(b.String())
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServe: -listen serves the metrics at /metrics, read afresh at each
// scrape; a failed read is a 500 and one line on stderr; the server stops
// when the context ends.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	tool := cli.New("stolos-metrics", "", nil, io.Discard, &stderr)
	f := pipeline()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, tool, registry(f, []string{"ingest"}, 0), ln) }()
	url := "http://" + ln.Addr().String() + "/metrics"

	get := func() (int, string, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
	}
	code, ctype, body := get()
	if code != 200 || ctype != "text/plain; version=0.0.4; charset=utf-8; escaping=underscores" || body != jobsText {
		t.Errorf("scrape: %d %q\n%s\nwant 200 text/plain 0.0.4:\n%s", code, ctype, body, jobsText)
	}
	f.mu.Lock()
	f.counts["ingest"] = store.Counts{States: map[store.State]int{store.Completed: 13}}
	f.mu.Unlock()
	if _, _, body = get(); !strings.Contains(body, "stolos_jobs{app=\"ingest\",state=\"completed\"} 13\n") {
		t.Errorf("second scrape, not read afresh:\n%s", body)
	}
	f.mu.Lock()
	f.err = errors.New("connection refused")
	f.mu.Unlock()
	if code, _, _ = get(); code != 500 {
		t.Errorf("scrape of a failing backend: %d, want 500", code)
	}
	if got, want := stderr.String(), "stolos-metrics: serving http://"+ln.Addr().String()+"/metrics\nstolos-metrics: error gathering metrics: app ingest: connection refused\n"; got != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if _, err := http.Get(url); err == nil {
		t.Errorf("still serving after the context ended")
	}
}
