package web

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/dot"
	"github.com/stolos-sched/stolos/lib/jobid"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// countCol is one column of an app's counts.
type countCol struct {
	Name string // a state, "queued" or "running"
	N    int
}

// counts are an app's counts as the pages show them: the states, then
// those queued and those running (claimed).
func counts(c store.Counts) (cols []countCol, total int) {
	for _, st := range store.States {
		cols = append(cols, countCol{string(st), c.States[st]})
		total += c.States[st]
	}
	return append(cols, countCol{"queued", c.Queued}, countCol{"running", c.Claimed}), total
}

type appRow struct {
	Name   string
	Total  int
	Counts []countCol
	Failed int
}

// overview lists the apps with their counts: one Count per app, whose
// cost does not grow with the app's jobs.
func (s *Server) overview(w http.ResponseWriter, r *http.Request) error {
	rows := make([]appRow, 0, len(s.cfg.Apps))
	for _, a := range s.cfg.Apps {
		c, err := s.r.Count(r.Context(), a.Name)
		if err != nil {
			return err
		}
		row := appRow{Name: a.Name, Failed: c.States[store.Failed]}
		row.Counts, row.Total = counts(c)
		rows = append(rows, row)
	}
	s.render(w, r, http.StatusOK, "overview", "apps", nil, rows)
	return nil
}

// Page sizes of an app's job list.
const (
	DefaultPage = 100
	MaxPage     = 1000
	// ScanLimit bounds the jobs one page streams past its cursor looking
	// for matches of a filter; a page that stops there links to the next
	// stretch.
	ScanLimit = 100_000
)

// filter is what an app's page lists: jobs in State (all if Absent),
// whose date identifier (Date, -1 if the app has none) is within [From,
// To] (zero: open), whose id or last outcome holds Q (any case); the N
// first that come after Skip jobs of the backend's listing of State.
type filter struct {
	State    store.State
	Date     int
	From, To time.Time
	FromText string
	ToText   string
	Q        string
	Skip, N  int
}

// dateIdent is the index of the first identifier of a's job id that is a
// calendar day (a date rule in the validations), or -1.
func dateIdent(a *config.App) int {
	return slices.IndexFunc(a.Parser.Rules, func(r *jobid.Rule) bool { return r.IsDate() })
}

func parseFilter(a *config.App, q url.Values) (filter, error) {
	f := filter{Date: dateIdent(a), Q: q.Get("q"), N: DefaultPage, FromText: q.Get("from"), ToText: q.Get("to")}
	var err error
	if v := q.Get("state"); v != "" {
		if f.State, err = store.ParseState(v); err != nil {
			return f, badRequest("bad filter state: %v", err)
		}
	}
	day := func(name, v string) (time.Time, error) {
		if v == "" {
			return time.Time{}, nil
		}
		if f.Date < 0 {
			return time.Time{}, badRequest("bad filter %s: app %s has no date identifier (a date rule in -job-id-validations)", name, a.Name)
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return time.Time{}, badRequest("bad filter %s %q: want a day, YYYY-MM-DD", name, v)
		}
		return t, nil
	}
	if f.From, err = day("from", f.FromText); err != nil {
		return f, err
	}
	if f.To, err = day("to", f.ToText); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return f, badRequest("bad filter: to %s is before from %s", f.ToText, f.FromText)
	}
	num := func(name string, min, max int) (int, bool, error) {
		v := q.Get(name)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			return 0, false, badRequest("bad %s %q: want a number from %d to %d", name, v, min, max)
		}
		return n, true, nil
	}
	if n, ok, err := num("skip", 0, 1<<62); err != nil {
		return f, err
	} else if ok {
		f.Skip = n
	}
	if n, ok, err := num("n", 1, MaxPage); err != nil {
		return f, err
	} else if ok {
		f.N = n
	}
	return f, nil
}

// match says whether job j passes the filter (its state is the
// listing's).
func (f *filter) match(a *config.App, j store.Job) bool {
	if f.Q != "" && !containsFold(j.JobID, f.Q) && !containsFold(j.Outcome, f.Q) {
		return false
	}
	if f.From.IsZero() && f.To.IsZero() {
		return true
	}
	vals, err := a.Parser.Parse(j.JobID)
	if err != nil {
		return false
	}
	d, err := a.Parser.Rules[f.Date].Date(vals[f.Date])
	if err != nil {
		return false
	}
	return !d.Before(f.From) && (f.To.IsZero() || !d.After(f.To))
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// query is the URL query of the filter at cursor skip.
func (f *filter) query(skip int) string {
	v := url.Values{}
	if f.State != store.Absent {
		v.Set("state", string(f.State))
	}
	if f.FromText != "" {
		v.Set("from", f.FromText)
	}
	if f.ToText != "" {
		v.Set("to", f.ToText)
	}
	if f.Q != "" {
		v.Set("q", f.Q)
	}
	if f.N != DefaultPage {
		v.Set("n", strconv.Itoa(f.N))
	}
	if skip > 0 {
		v.Set("skip", strconv.Itoa(skip))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// errPage stops a listing once a page is made.
var errPage = errors.New("page full")

// listing is one page of an app's jobs.
type listing struct {
	Jobs []jobRow
	// Next is the cursor of the next page (the jobs of the backend's
	// listing this page went past), when there may be more.
	Next    int
	More    bool
	Scanned int // jobs of the listing this page went past
}

type jobRow struct {
	JobID    string
	Status   dot.Status
	Attempts int
	Outcome  string
	Owner    string
}

// list streams the app's jobs in the backend's order, past the first
// f.Skip, and stops at f.N matches or ScanLimit jobs looked at: a page
// never holds more than f.N jobs, whatever the app's size.
func (s *Server) list(r *http.Request, a *config.App, f *filter, now time.Time) (listing, error) {
	var out listing
	pos := 0
	err := s.r.List(r.Context(), a.Name, f.State, func(j store.Job) error {
		if pos < f.Skip {
			pos++
			return nil
		}
		if len(out.Jobs) == f.N || pos-f.Skip == ScanLimit {
			out.More = true
			return errPage
		}
		pos++
		if f.match(a, j) {
			row := jobRow{JobID: j.JobID, Status: dot.StatusOf(j, now), Attempts: j.Attempts, Outcome: j.Outcome}
			if j.Claimed(now) {
				row.Owner = j.Owner
			}
			out.Jobs = append(out.Jobs, row)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPage) {
		return out, err
	}
	out.Next, out.Scanned = pos, pos-f.Skip
	return out, nil
}

type appPage struct {
	Name     string
	Total    int
	Counts   []countCol
	States   []store.State
	F        filter
	HasDate  bool
	DateName string
	L        listing
	NextURL  string
	FirstURL string
	SVG      bool   // the graph is an SVG at /graph/APP
	DOT      string // else its DOT text
}

// app lists a page of an app's jobs, with its counts and its graph.
func (s *Server) app(w http.ResponseWriter, r *http.Request) error {
	a, err := s.appOf(r)
	if err != nil {
		return err
	}
	f, err := parseFilter(a, r.URL.Query())
	if err != nil {
		return err
	}
	c, err := s.r.Count(r.Context(), a.Name)
	if err != nil {
		return err
	}
	p := appPage{Name: a.Name, States: store.States, F: f, HasDate: f.Date >= 0, SVG: s.opt.Dot != ""}
	p.Counts, p.Total = counts(c)
	if p.HasDate {
		p.DateName = a.Template.Idents[f.Date]
	}
	if p.L, err = s.list(r, a, &f, s.opt.Now()); err != nil {
		return err
	}
	if p.L.More {
		p.NextURL = appURL(a.Name) + f.query(p.L.Next)
	}
	if f.Skip > 0 {
		p.FirstURL = appURL(a.Name) + f.query(0)
	}
	if !p.SVG {
		if p.DOT, err = s.appDOT(a.Name); err != nil {
			return err
		}
	}
	s.render(w, r, http.StatusOK, "app", a.Name, []crumb{{a.Name, appURL(a.Name)}}, p)
	return nil
}

// resolve is the job a URL names: a 404 for an unknown app or a job id
// that is not one of the app's.
func (s *Server) resolve(r *http.Request) (sched.Job, error) {
	a, err := s.appOf(r)
	if err != nil {
		return sched.Job{}, err
	}
	j, err := s.r.Resolve(store.Ref{App: a.Name, JobID: r.PathValue("id")})
	if err != nil {
		return sched.Job{}, notFound("%v", err)
	}
	return j, nil
}

// MaxRelated bounds the parents and the children a job's page lists (and
// reads the states of); the others are counted.
const MaxRelated = 200

type relRow struct {
	App, JobID string
	Status     dot.Status
}

type related struct {
	Jobs []relRow
	More int
}

type attemptRow struct {
	Seq      int64
	Start    time.Time
	End      time.Time
	Duration time.Duration
	Worker   string
	Host     string
	Outcome  string
	LogURL   string // the log, served from this machine's disk
	LogWhere string // else where it is, or why there is none
}

type pathStep struct {
	App, JobID string
	Status     dot.Status
	Outcome    string
}

type blockerPath struct {
	Kind  string // blocked or waiting
	Steps []pathStep
}

type jobPage struct {
	App, JobID  string
	Status      dot.Status
	State       string
	Queued      bool
	Priority    int
	Owner       string
	Until       time.Time
	Revoked     bool
	Attempts    int
	Outcome     string
	Why         string
	Blockers    []blockerPath
	MorePaths   int // blocker paths not listed (MaxPaths)
	NotExamined int
	History     []attemptRow
	Parents     related
	Children    related
}

// job shows one job: its state and why, its attempts, its parents and
// children with their states.
func (s *Server) job(w http.ResponseWriter, r *http.Request) error {
	j, err := s.resolve(r)
	if err != nil {
		return err
	}
	ctx, now := r.Context(), s.opt.Now()
	ref := j.Ref()
	got, err := s.r.GetAll(ctx, []store.Ref{ref})
	if err != nil {
		return err
	}
	job := got[0]
	if job.State == store.Absent {
		return notFound("app %s has no job %s", ref.App, ref.JobID)
	}
	why, b, err := s.r.Why(ctx, job, now)
	if err != nil {
		return err
	}
	p := jobPage{App: ref.App, JobID: ref.JobID, Status: dot.StatusOf(job, now), State: string(job.State),
		Queued: job.Queued, Priority: job.Priority, Attempts: job.Attempts, Outcome: job.Outcome, Why: why}
	if job.Claimed(now) {
		p.Owner, p.Until, p.Revoked = job.Owner, job.Until, job.Revoked
	}
	if b != nil {
		p.Blockers, p.MorePaths = blockerPaths(b, now)
		p.NotExamined = b.NotExamined
	}
	hs, err := s.r.History(ctx, []store.Ref{ref})
	if err != nil {
		return err
	}
	for i := len(hs[0]) - 1; i >= 0; i-- { // the latest first
		p.History = append(p.History, attemptRowOf(hs[0][i]))
	}
	if p.Parents, err = s.related(r, s.r.Parents(j), now); err != nil {
		return err
	}
	if p.Children, err = s.related(r, s.r.Children(j), now); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "job", ref.App+" "+ref.JobID,
		[]crumb{{ref.App, appURL(ref.App)}, {ref.JobID, jobURL(ref.App, ref.JobID)}}, p)
	return nil
}

// MaxPaths bounds the paths to its blockers a job's page lists (blocked
// ones first); the others are counted. A job below a wide fan-in may wait
// for thousands of parents.
const MaxPaths = 50

func blockerPaths(b *sched.Blockers, now time.Time) (out []blockerPath, more int) {
	add := func(kind string, paths [][]store.Job) {
		for _, path := range paths {
			if len(out) == MaxPaths {
				more++
				continue
			}
			bp := blockerPath{Kind: kind}
			for _, j := range path[1:] { // the job itself is the page's
				bp.Steps = append(bp.Steps, pathStep{App: j.App, JobID: j.JobID, Status: dot.StatusOf(j, now), Outcome: j.Outcome})
			}
			out = append(out, bp)
		}
	}
	add("blocked", b.Blocked)
	add("waiting", b.Waiting)
	return out, more
}

func attemptRowOf(a store.Attempt) attemptRow {
	row := attemptRow{Seq: a.Seq, Start: a.Start, End: a.End, Duration: a.End.Sub(a.Start),
		Worker: a.Worker, Host: workerHost(a.Worker), Outcome: a.Outcome}
	path, err := sched.LogFile(a)
	switch {
	case err != nil && a.Log == "":
		row.LogWhere = "-"
	case err != nil:
		row.LogWhere = a.Log
	default:
		if _, err := os.Stat(path); err != nil {
			row.LogWhere = a.Log + " (missing)"
		} else {
			row.LogURL = logURL(a)
		}
	}
	return row
}

// workerHost is the host of a worker named TOOL@HOST:PID (sched.Owner),
// or the whole name if it is not one.
func workerHost(w string) string {
	_, rest, ok := strings.Cut(w, "@")
	if !ok {
		return w
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		return rest[:i]
	}
	return rest
}

// related lists the first MaxRelated jobs of js with their states (one
// batched read) and counts the rest.
func (s *Server) related(r *http.Request, js []sched.Job, now time.Time) (related, error) {
	out := related{More: max(0, len(js)-MaxRelated)}
	js = js[:min(len(js), MaxRelated)]
	if len(js) == 0 {
		return out, nil
	}
	refs := make([]store.Ref, len(js))
	for i, j := range js {
		refs[i] = j.Ref()
	}
	got, err := s.r.GetAll(r.Context(), refs)
	if err != nil {
		return out, err
	}
	for _, j := range got {
		out.Jobs = append(out.Jobs, relRow{App: j.App, JobID: j.JobID, Status: dot.StatusOf(j, now)})
	}
	return out, nil
}

// log serves the log of one attempt of a job when it is on this
// machine's disk; only a path the job's history records is ever read.
func (s *Server) log(w http.ResponseWriter, r *http.Request) error {
	j, err := s.resolve(r)
	if err != nil {
		return err
	}
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		return badRequest("bad attempt number %q", r.PathValue("seq"))
	}
	ref := j.Ref()
	hs, err := s.r.History(r.Context(), []store.Ref{ref})
	if err != nil {
		return err
	}
	i := slices.IndexFunc(hs[0], func(a store.Attempt) bool { return a.Seq == seq })
	if i < 0 {
		return notFound("%s %s: attempt %d is not in the history", ref.App, ref.JobID, seq)
	}
	path, err := sched.LogFile(hs[0][i])
	if err != nil {
		return notFound("%s %s attempt %d: %v", ref.App, ref.JobID, seq, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return notFound("%s %s attempt %d: %v", ref.App, ref.JobID, seq, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", st.ModTime(), f)
	return nil
}
