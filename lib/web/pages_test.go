package web_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/testenv"
	"github.com/stolos-sched/stolos/lib/web"
)

// pageCheck is one page of the fixture and what it must show.
type pageCheck struct {
	path   string
	status int
	check  func(t *testing.T, d *node)
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func eqList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

// sorted: a list's order is the backend's (local: by job id; Redis: by
// state, then job id).
func sorted(rows []string) []string { slices.Sort(rows); return rows }

// cells are the cells i of rows.
func cells(rows []string, idx ...int) []string {
	var out []string
	for _, r := range rows {
		c := strings.Split(r, " | ")
		var pick []string
		for _, i := range idx {
			if i < len(c) {
				pick = append(pick, c[i])
			}
		}
		out = append(out, strings.Join(pick, " | "))
	}
	return out
}

func errorPage(code, msg string) func(t *testing.T, d *node) {
	return func(t *testing.T, d *node) {
		eq(t, "error", d.TextOf("error"), code)
		eq(t, "message", d.TextOf("message"), msg)
	}
}

// pages are the fixture's pages (see newFixture), the same on every
// backend.
var pages = []pageCheck{
	{"/", 200, func(t *testing.T, d *node) {
		eqList(t, "apps", d.Rows("apps"), []string{
			"preprocess | 6 | 2 | 3 | 1 | 0 | 2 | 0",
			"model_build | 2 | 2 | 0 | 0 | 0 | 2 | 1",
			"daily_report | 1 | 1 | 0 | 0 | 0 | 0 | 0",
			"adhoc | 0 | 0 | 0 | 0 | 0 | 0 | 0",
		})
		eq(t, "failed app marked", d.ID("app-preprocess").attr["class"], "has-failed")
		eq(t, "app without failures", d.ID("app-model_build").attr["class"], "")
	}},
	{"/app/preprocess", 200, func(t *testing.T, d *node) {
		eq(t, "counts", d.TextOf("counts"), "6 jobs: 2 pending 3 completed 1 failed 0 skipped 2 queued 0 running")
		eqList(t, "jobs", sorted(d.Rows("jobs")), []string{
			"20140601_1 | completed | 0 | exit 0",
			"20140601_2 | completed | 0 | exit 0",
			"20140601_3 | completed | 0 | exit 0",
			"20140602_1 | failed | 1 | exit 3",
			"20140602_2 | queued | 1 | exit 3",
			"20140602_3 | queued | 0 | ",
		})
		eq(t, "shown", d.TextOf("shown"), "6 shown")
		eq(t, "next", d.ID("next") == nil, true)
		eq(t, "graph", d.ID("graph").attr["src"], "/graph/preprocess")
	}},
	{"/app/preprocess?state=completed&from=2014-06-01&to=2014-06-01&q=_2", 200, func(t *testing.T, d *node) {
		eqList(t, "jobs", d.Rows("jobs"), []string{"20140601_2 | completed | 0 | exit 0"})
	}},
	{"/app/preprocess?from=2014-06-02&q=EXIT", 200, func(t *testing.T, d *node) {
		eqList(t, "jobs", sorted(d.Rows("jobs")), []string{
			"20140602_1 | failed | 1 | exit 3",
			"20140602_2 | queued | 1 | exit 3",
		})
	}},
	{"/app/preprocess?state=pending&n=1", 200, func(t *testing.T, d *node) {
		eq(t, "shown", d.TextOf("shown"), "1 shown")
		eq(t, "next", d.ID("next").attr["href"], "/app/preprocess?n=1&skip=1&state=pending")
	}},
	{"/app/preprocess?state=pending&n=1&skip=1", 200, func(t *testing.T, d *node) {
		eq(t, "shown", d.TextOf("shown"), "1 shown")
		eq(t, "next", d.ID("next") == nil, true)
		eq(t, "first", d.ID("first").attr["href"], "/app/preprocess?n=1&state=pending")
	}},
	{"/app/adhoc", 200, func(t *testing.T, d *node) {
		eqList(t, "jobs", d.Rows("jobs"), []string{"no jobs"})
		eq(t, "no date filter", strings.Contains(d.Text(), "from"), false)
	}},
	{"/job/preprocess/20140602_1", 200, func(t *testing.T, d *node) {
		eq(t, "status", d.TextOf("status"), "failed")
		eq(t, "why", d.TextOf("why"), "1 failed attempt; last: exit 3")
		eqList(t, "history", cells(d.Rows("history"), 0, 3, 4, 5), []string{"1 | " + sched.Host() + " | exit 3 | log"})
		eq(t, "parents", d.TextOf("parents"), "Parents none")
		eqList(t, "children", d.Items("children"), []string{"model_build 20140602_churn absent", "model_build 20140602_ltv absent"})
	}},
	{"/job/preprocess/20140602_2", 200, func(t *testing.T, d *node) {
		eq(t, "status", d.TextOf("status"), "queued")
		eqList(t, "history", cells(d.Rows("history"), 0, 3, 4, 5), []string{"1 | elsewhere | exit 3 | " + otherLog})
	}},
	{"/job/daily_report/20140602", 200, func(t *testing.T, d *node) {
		eq(t, "status", d.TextOf("status"), "pending")
		eq(t, "why", d.TextOf("why"), "blocked: ancestor preprocess 20140602_1 failed (1 attempt; last: exit 3)")
		eqList(t, "blockers", d.Items("blockers"), []string{
			"blocked: model_build 20140602_churn absent › preprocess 20140602_1 failed",
			"waiting: model_build 20140602_churn absent › preprocess 20140602_2 queued",
			"waiting: model_build 20140602_churn absent › preprocess 20140602_3 queued",
		})
		eq(t, "history", d.TextOf("history-none"), "No attempt recorded.")
		eqList(t, "parents", d.Items("parents"), []string{"model_build 20140602_churn absent", "model_build 20140602_ltv absent"})
	}},
	{"/job/model_build/20140601_churn", 200, func(t *testing.T, d *node) {
		eq(t, "status", d.TextOf("status"), "running")
		eq(t, "lease", strings.HasPrefix(d.TextOf("lease"), "worker-1 until "), true)
		eqList(t, "parents", d.Items("parents"), []string{
			"preprocess 20140601_1 completed", "preprocess 20140601_2 completed", "preprocess 20140601_3 completed"})
		eqList(t, "children", d.Items("children"), []string{"daily_report 20140601 absent"})
	}},
	{"/app/nope", 404, errorPage("404 Not Found", `unknown app "nope"`)},
	{"/job/preprocess/20140603_1", 404, errorPage("404 Not Found", "app preprocess has no job 20140603_1")},
	{"/job/preprocess/2014_x", 404, errorPage("404 Not Found",
		`invalid job id "2014_x" for app preprocess (template "{date}_{client_id}"): date: "2014" is not a date of layout "20060102"`)},
	{"/nope", 404, errorPage("404 Not Found", "no page /nope")},
	{"/app/preprocess?state=x", 400, errorPage("400 Bad Request",
		`bad filter state: unknown state "x" (want pending, completed, failed or skipped)`)},
	{"/app/preprocess?from=2014", 400, errorPage("400 Bad Request", `bad filter from "2014": want a day, YYYY-MM-DD`)},
	{"/app/preprocess?from=2014-06-02&to=2014-06-01", 400, errorPage("400 Bad Request", "bad filter: to 2014-06-01 is before from 2014-06-02")},
	{"/app/preprocess?n=0", 400, errorPage("400 Bad Request", `bad n "0": want a number from 1 to 1000`)},
	{"/app/preprocess?skip=-1", 400, errorPage("400 Bad Request", `bad skip "-1": want a number from 0 to 4611686018427387904`)},
	{"/app/adhoc?from=2014-06-01", 400, errorPage("400 Bad Request",
		"bad filter from: app adhoc has no date identifier (a date rule in -job-id-validations)")},
	{"/log/preprocess/1/20140602_2", 404, errorPage("404 Not Found",
		"preprocess 20140602_2 attempt 1: the log is on host elsewhere: /var/log/stolos/preprocess/20140602_2.1.log")},
	{"/log/preprocess/2/20140602_1", 404, errorPage("404 Not Found", "preprocess 20140602_1: attempt 2 is not in the history")},
	{"/log/preprocess/x/20140602_1", 400, errorPage("400 Bad Request", `bad attempt number "x"`)},
}

// fetch fetches a path: its status, content type and body.
func fetch(t *testing.T, base, path string) (int, string, string) {
	t.Helper()
	r, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r.StatusCode, r.Header.Get("Content-Type"), string(b)
}

// get fetches a page and parses it.
func get(t *testing.T, base, path string) (int, *node, string) {
	t.Helper()
	code, _, b := fetch(t, base, path)
	return code, parseDOM(t, b), b
}

// TestPages checks every page of the fixture's, served over its backend
// (local and Redis), through net/http: status and content.
func TestPages(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			f := newFixture(t, be.Open(t))
			srv := f.serve(t, readOnly(f, t), web.Options{Dot: "dot"})
			for _, p := range pages {
				t.Run(p.path, func(t *testing.T) {
					code, d, _ := get(t, srv.URL, p.path)
					eq(t, "status", code, p.status)
					p.check(t, d)
				})
			}
		})
	}
}

// TestLog: a log on this machine's disk is served as it is, as plain text.
func TestLog(t *testing.T) {
	f := newFixture(t, backends[0].Open(t))
	srv := f.serve(t, f.s, web.Options{})
	code, typ, b := fetch(t, srv.URL, "/log/preprocess/1/20140602_1")
	eq(t, "status", code, 200)
	eq(t, "type", typ, "text/plain; charset=utf-8")
	eq(t, "log", b, "preprocess 20140602_1: no input\n")
	// The job page links it.
	_, d, _ := get(t, srv.URL, "/job/preprocess/20140602_1")
	eqList(t, "log link", d.ID("history").Links(), []string{"/log/preprocess/1/20140602_1"})
}

// TestNoDot: without dot, the app page shows the graph's DOT text, and
// /graph is a 404 saying why.
func TestNoDot(t *testing.T) {
	f := newFixture(t, backends[0].Open(t))
	srv := f.serve(t, f.s, web.Options{})
	_, d, _ := get(t, srv.URL, "/app/daily_report")
	eq(t, "img", d.ID("graph") == nil, true)
	eq(t, "dot", strings.Contains(d.TextOf("graph-dot"), `"model_build" -> "daily_report";`), true)
	code, d, _ := get(t, srv.URL, "/graph/daily_report")
	eq(t, "status", code, 404)
	eq(t, "message", d.TextOf("message"), "no SVG of the app graph: dot (GraphViz) is not installed")
}

// TestMethods: only GET and HEAD are answered; everything else is 405
// with an Allow header, and changes nothing.
func TestMethods(t *testing.T) {
	f := newFixture(t, backends[0].Open(t))
	srv := f.serve(t, readOnly(f, t), web.Options{})
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		req, err := http.NewRequest(m, srv.URL+"/job/preprocess/20140602_1", strings.NewReader("state=completed"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		eq(t, m+" status", r.StatusCode, 405)
		eq(t, m+" Allow", r.Header.Get("Allow"), "GET, HEAD")
		eq(t, m+" message", parseDOM(t, string(b)).TextOf("message"), "method "+m+": this page only shows state (GET or HEAD)")
	}
	r, err := http.Head(srv.URL + "/app/preprocess")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	eq(t, "HEAD status", r.StatusCode, 200)
}

// TestReadOnly crawls every link of every page from / (GET and HEAD of
// each, and a POST that must be refused) on each backend: every link
// answers 200, no write reaches the backend (readOnly fails the test at
// the first), and the backend reads the same before and after.
func TestReadOnly(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			f := newFixture(t, be.Open(t))
			before := f.snapshot(t)
			if !strings.Contains(before, "preprocess 20140602_1 failed queued=false ") {
				t.Fatalf("the snapshot misses the jobs' states: %s", before)
			}
			srv := f.serve(t, readOnly(f, t), web.Options{Dot: "dot"})
			seen := map[string]bool{"/": true}
			queue := []string{"/"}
			for len(queue) > 0 && len(seen) < 1000 {
				p := queue[0]
				queue = queue[1:]
				code, d, _ := get(t, srv.URL, p)
				if code != 200 {
					t.Errorf("GET %s: status %d", p, code)
				}
				for _, m := range []string{"HEAD", "POST"} {
					req, _ := http.NewRequest(m, srv.URL+p, nil)
					r, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					r.Body.Close()
					want := map[string]int{"HEAD": 200, "POST": 405}[m]
					if r.StatusCode != want {
						t.Errorf("%s %s: status %d, want %d", m, p, r.StatusCode, want)
					}
				}
				for _, l := range d.Links() {
					u, err := url.Parse(l)
					if err != nil || u.Host != "" {
						t.Errorf("page %s links %q: not a path on the server", p, l)
						continue
					}
					if !seen[l] {
						seen[l] = true
						if strings.HasPrefix(l, "/static/") || strings.HasPrefix(l, "/graph/") || strings.HasPrefix(l, "/log/") {
							if code, _, _ := get(t, srv.URL, l); code != 200 {
								t.Errorf("GET %s (from %s): status %d", l, p, code)
							}
							continue
						}
						queue = append(queue, l)
					}
				}
			}
			// Every kind of page was reached.
			for _, want := range []string{"/", "/app/daily_report", "/job/model_build/20140601_churn", "/log/preprocess/1/20140601_1",
				"/graph/preprocess", "/static/style.css", "/app/preprocess?state=failed", "/app/preprocess?state=completed"} {
				if !seen[want] {
					t.Errorf("the crawl did not reach %s", want)
				}
			}
			t.Logf("crawled %d URLs", len(seen))
			if after := f.snapshot(t); after != before {
				t.Errorf("the backend changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// readOnly is a Sched like f.s whose backend fails the test at any
// write. The Reader interface has no write method; this proves that none
// is reached through the ones it has either (Why, say).
func readOnly(f *fixture, t *testing.T) *sched.Sched { return sched.New(f.cfg, noWrites{f.be, t}) }

// noWrites is a backend whose writes fail the test; its reads are the
// backend's.
type noWrites struct {
	store.Backend
	t *testing.T
}

var errWrite = errors.New("a write through stolos-web")

func (n noWrites) write(op string) error {
	n.t.Errorf("stolos-web called %s", op)
	return errWrite
}

func (n noWrites) Submit(context.Context, []store.SubmitItem) ([]store.SubmitResult, error) {
	return nil, n.write("Submit")
}

func (n noWrites) Claim(context.Context, store.ClaimRequest) (store.ClaimResult, error) {
	return store.ClaimResult{}, n.write("Claim")
}

func (n noWrites) Acquire(context.Context, store.Ref, string, time.Duration) (store.Lease, error) {
	return store.Lease{}, n.write("Acquire")
}

func (n noWrites) Renew(context.Context, store.Lease, time.Duration) (store.Lease, error) {
	return store.Lease{}, n.write("Renew")
}

func (n noWrites) Release(context.Context, store.Lease) error { return n.write("Release") }

func (n noWrites) Complete(context.Context, store.Lease, string, []store.Child) error {
	return n.write("Complete")
}

func (n noWrites) Resume(context.Context, store.Ref, []store.Child) error { return n.write("Resume") }

func (n noWrites) ResumeReadd(context.Context, store.Ref, []store.Ref) error {
	return n.write("ResumeReadd")
}

func (n noWrites) Fail(context.Context, store.Lease, string, int, time.Duration) (bool, error) {
	return false, n.write("Fail")
}

func (n noWrites) Defer(context.Context, store.Lease, string, time.Duration) error {
	return n.write("Defer")
}

func (n noWrites) Park(context.Context, store.Lease, []store.Ref, []store.Node) (store.ParkResult, error) {
	return store.ParkResult{}, n.write("Park")
}

func (n noWrites) SetState(context.Context, store.Ref, store.State, string) error {
	return n.write("SetState")
}

func (n noWrites) Close() error { return nil } // the fixture's backend stays open

// TestWideFanIn: a job waiting for 250 parents lists the paths to the
// first MaxPaths and the first MaxRelated parents, and counts the others.
func TestWideFanIn(t *testing.T) {
	cfg, err := config.Parse([]byte(`{"p": {"job_id": "{d}_{i}", "autofill_values": {"i": "0:250"}},
		"c": {"job_id": "{d}", "depends_on": {"app_name": ["p"], "i": "all"}}}`), config.Options{Delimiter: "_"})
	if err != nil {
		t.Fatal(err)
	}
	s := sched.New(cfg, backends[0].Open(t))
	ctx := context.Background()
	j, err := s.Resolve(store.Ref{App: "c", JobID: "1"})
	if err != nil {
		t.Fatal(err)
	}
	it, err := s.Item(ctx, j, store.DefaultPriority, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Submit(ctx, []store.SubmitItem{it}); err != nil {
		t.Fatal(err)
	}
	// The claim parks the child and queues its 250 parents.
	var parked int
	if _, err := s.Claim(ctx, store.ClaimRequest{App: "c", Owner: "w", N: 1, Lease: time.Hour}, 0,
		func(l store.Lease) error { return errors.New("claimed") }, func(sched.Parked) { parked++ }); err != nil || parked != 1 {
		t.Fatalf("claim: %v, %d parked", err, parked)
	}
	h, err := web.New(cfg, s, web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	code, d, _ := get(t, srv.URL, "/job/c/1")
	eq(t, "status", code, 200)
	eq(t, "why", d.TextOf("why"), "waiting for parent p 1_0 (pending), and 249 more")
	items := d.Items("blockers")
	eq(t, "paths listed", len(items), web.MaxPaths+1)
	eq(t, "first", items[0], "waiting: p 1_0 queued")
	eq(t, "last", items[len(items)-1], "and 200 more")
	parents := d.Items("parents")
	eq(t, "parents listed", len(parents), web.MaxRelated+1)
	eq(t, "first parent", parents[0], "p 1_0 queued")
	eq(t, "parents not listed", parents[len(parents)-1], "and 50 more")
}

// TestGraph: the app graph is dot's SVG, the app's node among its
// titles; a drawing that failed is a 500 that says why, and is tried
// again at the next request.
func TestGraph(t *testing.T) {
	testenv.RequireTool(t, "dot", "graphviz")
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, backends[0].Open(t))
	srv := f.serve(t, f.s, web.Options{Dot: dot})
	code, typ, svg := fetch(t, srv.URL, "/graph/model_build")
	eq(t, "status", code, 200)
	eq(t, "type", typ, "image/svg+xml")
	eq(t, "node", strings.Contains(svg, "<title>model_build</title>"), true)

	broken := filepath.Join(t.TempDir(), "dot")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho 'broken' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv = f.serve(t, f.s, web.Options{Dot: broken})
	code, d, _ := get(t, srv.URL, "/graph/model_build")
	eq(t, "status", code, 500)
	eq(t, "message", d.TextOf("message"), "dot -Tsvg: exit status 1: broken")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\nexec "+dot+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, _ = get(t, srv.URL, "/graph/model_build")
	eq(t, "status once dot works", code, 200)
}
