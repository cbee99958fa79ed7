package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/dot"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// Reader is all the server reads job state with: the read-only methods
// of a sched.Sched. Holding nothing else, no request can reach a method
// that changes state (Submit, SetState, Complete, a claim's resume of
// another worker's bubble-down): the page code cannot name one.
type Reader interface {
	Count(ctx context.Context, app string) (store.Counts, error)
	List(ctx context.Context, app string, filter store.State, fn func(store.Job) error) error
	GetAll(ctx context.Context, refs []store.Ref) ([]store.Job, error)
	History(ctx context.Context, refs []store.Ref) ([][]store.Attempt, error)
	Why(ctx context.Context, j store.Job, now time.Time) (string, *sched.Blockers, error)
	Resolve(ref store.Ref) (sched.Job, error)
	Parents(j sched.Job) []sched.Job
	Children(j sched.Job) []sched.Job
}

var _ Reader = (*sched.Sched)(nil)

// Options are a server's settings besides its configuration and reader.
type Options struct {
	// Dot is the path of GraphViz's dot, which draws the app graph as
	// SVG; "" shows the graph as DOT text.
	Dot string
	// Now is the clock (a job is running while its lease has not ended);
	// nil is time.Now.
	Now func() time.Time
}

//go:embed templates/*.html static/*
var files embed.FS

// Server serves the status pages (see the package doc).
type Server struct {
	cfg    *config.Config
	r      Reader
	opt    Options
	pages  map[string]*template.Template
	mux    *http.ServeMux
	static http.Handler

	mu     sync.Mutex
	graphs map[string][]byte // the SVG of each app's graph, once drawn
}

// New makes the server of cfg's apps, reading job state with r.
func New(cfg *config.Config, r Reader, opt Options) (*Server, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Server{cfg: cfg, r: r, opt: opt, pages: map[string]*template.Template{}, graphs: map[string][]byte{}}
	funcs := template.FuncMap{
		"appURL":    appURL,
		"jobURL":    jobURL,
		"thousands": dot.Thousands,
		"time":      fmtTime,
		"duration":  fmtDuration,
	}
	for _, p := range []string{"overview", "app", "job", "error"} {
		t, err := template.New(p).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, err
		}
		s.pages[p] = t
	}
	sub, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	s.static = http.StripPrefix("/static/", http.FileServerFS(sub))
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.handle(s.overview))
	m.HandleFunc("GET /app/{app}", s.handle(s.app))
	m.HandleFunc("GET /graph/{app}", s.handle(s.graph))
	m.HandleFunc("GET /job/{app}/{id...}", s.handle(s.job))
	m.HandleFunc("GET /log/{app}/{seq}/{id...}", s.handle(s.log))
	m.HandleFunc("GET /static/status.css", s.statusCSS)
	m.Handle("GET /static/", s.static)
	m.HandleFunc("/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return notFound("no page %s", r.URL.Path)
	}))
	s.mux = m
	return s, nil
}

// ServeHTTP answers GET and HEAD; any other method is refused (405), so
// that nothing a client sends can be taken for a request to change state.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		s.fail(w, r, &httpError{http.StatusMethodNotAllowed, fmt.Sprintf("method %s: this page only shows state (GET or HEAD)", r.Method)})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// httpError is an answer other than 200 with the page that says why.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

type errorPage struct {
	Code      int
	Text, Msg string
}

func notFound(format string, args ...any) error {
	return &httpError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// handle turns a page function's error into its error page: an
// httpError's code, else 500 (the backend failed).
func (s *Server) handle(page func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := page(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{http.StatusInternalServerError, err.Error()}
	}
	s.render(w, r, he.code, "error", http.StatusText(he.code), nil,
		errorPage{Code: he.code, Text: http.StatusText(he.code), Msg: he.msg})
}

// page is what the layout shows around a page's content (D).
type page struct {
	Title  string
	Crumbs []crumb
	Now    time.Time
	D      any
}

type crumb struct{ Name, URL string }

// render writes a page: made in a buffer first, so that a template error
// is a clean 500, never half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name, title string, crumbs []crumb, d any) {
	var b bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&b, "layout", page{Title: title, Crumbs: crumbs, Now: s.opt.Now(), D: d}); err != nil {
		http.Error(w, "stolos-web: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(b.Bytes())
}

// statusCSS colours each status as stolos-graph does (dot.Status.Color).
func (s *Server) statusCSS(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	for _, st := range dot.Statuses {
		fmt.Fprintf(&b, ".st-%s { background: %s; }\n", st, st.Color())
	}
	b.WriteString(".st-absent { border: 1px dashed #888; }\n")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Write([]byte(b.String()))
}

// appOf is the app a URL names, or a 404.
func (s *Server) appOf(r *http.Request) (*config.App, error) {
	name := r.PathValue("app")
	a := s.cfg.App(name)
	if a == nil {
		return nil, notFound("unknown app %q", name)
	}
	return a, nil
}

// graph serves the SVG of the app graph with the app drawn bold, drawn by
// dot once per app (the configuration does not change while the server
// runs); a failed drawing is tried again at the next request.
func (s *Server) graph(w http.ResponseWriter, r *http.Request) error {
	a, err := s.appOf(r)
	if err != nil {
		return err
	}
	if s.opt.Dot == "" {
		return notFound("no SVG of the app graph: dot (GraphViz) is not installed")
	}
	s.mu.Lock()
	svg, ok := s.graphs[a.Name]
	s.mu.Unlock()
	if !ok {
		if svg, err = s.drawSVG(a.Name); err != nil {
			return err
		}
		s.mu.Lock()
		s.graphs[a.Name] = svg
		s.mu.Unlock()
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Write(svg)
	return nil
}

// dotTimeout bounds one run of dot.
const dotTimeout = 20 * time.Second

func (s *Server) drawSVG(app string) ([]byte, error) {
	var in, out, errb bytes.Buffer
	if err := dot.Apps(&in, s.cfg, app); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), dotTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.opt.Dot, "-Tsvg")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = &in, &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dot -Tsvg: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// appDOT is the DOT text of the app graph, shown when dot is missing.
func (s *Server) appDOT(app string) (string, error) {
	var b strings.Builder
	err := dot.Apps(&b, s.cfg, app)
	return b.String(), err
}

func appURL(app string) string { return "/app/" + url.PathEscape(app) }

func jobURL(app, id string) string { return "/job/" + url.PathEscape(app) + "/" + escapeID(id) }

// escapeID escapes a job id for the {id...} wildcard: each byte PathEscape
// escapes, a slash too.
func escapeID(id string) string { return url.PathEscape(id) }

func logURL(a store.Attempt) string {
	return fmt.Sprintf("/log/%s/%d/%s", url.PathEscape(a.App), a.Seq, escapeID(a.JobID))
}

// timeLayout is how the pages write times: UTC, to the second, as
// stolos-state -history does (less its milliseconds).
const timeLayout = "2006-01-02 15:04:05Z07:00"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}

func fmtDuration(d time.Duration) string { return d.Round(time.Millisecond).String() }
