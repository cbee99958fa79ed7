package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// chain is a set from a list of jobs "name:parent,parent" in topological
// order.
func chain(t *testing.T, jobs ...string) *set {
	t.Helper()
	st := newSet(100)
	for _, j := range jobs {
		name, ps, _ := strings.Cut(j, ":")
		ref := store.Ref{App: "a", JobID: name}
		st.index[ref] = int32(len(st.refs))
		var parents []int32
		if ps != "" {
			for _, p := range strings.Split(ps, ",") {
				i, ok := st.index[store.Ref{App: "a", JobID: p}]
				if !ok {
					t.Fatalf("%s: parent %s not before it", name, p)
				}
				parents = append(parents, i)
			}
		}
		st.refs = append(st.refs, ref)
		st.parents = append(st.parents, parents)
	}
	return st
}

func TestClassify(t *testing.T) {
	// A diamond: r -> x, y -> c, and c -> d.
	jobs := []string{"r", "x:r", "y:r", "c:x,y", "d:c"}
	for _, tc := range []struct {
		name string
		base []Status // r x y c d
		want string
	}{
		{"nothing submitted", []Status{open, open, open, open, open}, "unqueued unqueued unqueued unqueued unqueued"},
		{"child queued: bubble-up will queue the rest", []Status{open, open, open, open, Queued}, "waiting waiting waiting waiting queued"},
		{"root queued", []Status{Queued, open, open, open, open}, "queued waiting waiting waiting waiting"},
		{"root running, a branch completed", []Status{Running, Completed, open, open, open}, "running completed waiting waiting waiting"},
		{"root failed", []Status{Failed, open, open, open, Queued}, "failed blocked blocked blocked blocked"},
		{"one branch skipped", []Status{Completed, Skipped, Queued, open, open}, "completed skipped queued blocked blocked"},
		{"parents completed, nothing queued it", []Status{Completed, Completed, Completed, open, open}, "completed completed completed unqueued unqueued"},
		{"one parent stuck", []Status{Completed, Queued, Completed, open, open}, "completed queued completed waiting waiting"},
		{"running descendant pulls", []Status{Completed, Completed, open, open, Running}, "completed completed waiting waiting running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := chain(t, jobs...)
			status := append([]Status(nil), tc.base...)
			st.classify(status)
			var got []string
			for _, s := range status {
				got = append(got, s.String())
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("got  %s\nwant %s", g, tc.want)
			}
		})
	}
}

func TestBlockedBy(t *testing.T) {
	st := chain(t, "r", "x:r", "y:x")
	status := []Status{Failed, open, Queued}
	via := st.classify(status)
	ends := map[int32]store.Job{0: {Ref: st.refs[0], State: store.Failed, Attempts: 3, Outcome: "exit 1"}}
	now := time.Now()
	if got, want := st.blockedBy(2, via, ends, now), "blocked: ancestor a r failed (3 attempts; last: exit 1)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := st.blockedBy(1, via, ends, now), "blocked: parent a r failed (3 attempts; last: exit 1)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestTTYRedraw: on a terminal each report is drawn over the one before,
// its lines cut to the terminal's width (the counts first).
func TestTTYRedraw(t *testing.T) {
	var b bytes.Buffer
	tt := &tty{w: &b, cols: 80}
	r := Report{Apps: []Counts{{App: "ingest", Total: 4}, {App: "agg", Total: 1}}, ETA: -1}
	r.Apps[0].By[Queued] = 4
	r.Apps[1].By[Waiting] = 1
	r.All = Counts{Total: 5}
	r.All.By[Queued], r.All.By[Waiting] = 4, 1
	if err := tt.draw(r); err != nil {
		t.Fatal(err)
	}
	r.Apps[0].By[Queued], r.Apps[0].By[Completed] = 1, 3
	r.All.By[Queued], r.All.By[Completed] = 1, 3
	r.PerMinute, r.ETA = 1.5, 80*time.Second
	tt.cols = 64
	if err := tt.draw(r); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ingest [........................]   0% 0/4  4 queued\n" +
		"agg    [........................]   0% 0/1  1 waiting\n" +
		"all    [........................]   0% 0/5  4 queued, ...; 0.0/min, eta unknown\n" +
		"\x1b[3A\r\x1b[J" +
		"ingest [##################......]  75% 3/4  3 completed, 1 q...\n" +
		"agg    [........................]   0% 0/1  1 waiting\n" +
		"all    [##############..........]  60% 3/5  1.5/min, eta 1m20s\n"
	if got := b.String(); got != want {
		t.Errorf("got:\n%q\nwant:\n%q", got, want)
	}
}

// TestRate: completions within the window, per minute of the span from the
// oldest (at least a minute).
func TestRate(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	p := &poller{times: []time.Time{now.Add(-20 * time.Minute), now.Add(-5 * time.Minute), now.Add(-2 * time.Minute), now.Add(-time.Minute)}}
	if got := p.perMinute(now); got != 0.6 {
		t.Errorf("got %v/min, want 0.6 (3 in 5 minutes)", got)
	}
	p.times = []time.Time{now.Add(-10 * time.Second)}
	if got := p.perMinute(now); got != 1 {
		t.Errorf("got %v/min, want 1 (1 in at least a minute)", got)
	}
}

// TestEnded: a wait ends when nothing will move; with unqueued jobs, only
// at the second report in a row with the same counts.
func TestEnded(t *testing.T) {
	report := func(by map[Status]int) Report {
		var r Report
		for s, n := range by {
			r.All.By[s] = n
			r.All.Total += n
		}
		return r
	}
	done := report(map[Status]int{Completed: 3, Failed: 1, Blocked: 2})
	moving := report(map[Status]int{Completed: 3, Queued: 1})
	stuck := report(map[Status]int{Completed: 3, Unqueued: 1})
	stuck2 := report(map[Status]int{Completed: 2, Unqueued: 2})
	for _, tc := range []struct {
		name      string
		r         Report
		last      *Report
		wantEnded bool
	}{
		{"nothing moves", done, nil, true},
		{"a job queued", moving, nil, false},
		{"unqueued, first report", stuck, nil, false},
		{"unqueued, after a report that moved", stuck, &moving, false},
		{"unqueued, other counts before", stuck, &stuck2, false},
		{"unqueued, same counts before", stuck, &stuck, true},
		{"no jobs", Report{}, nil, true},
	} {
		if got := ended(tc.r, tc.last); got != tc.wantEnded {
			t.Errorf("%s: ended %v, want %v", tc.name, got, tc.wantEnded)
		}
	}
}

// TestSet: a job's ancestors each once, parents before children; past the
// bound, an error naming the job.
func TestSet(t *testing.T) {
	cfg, err := config.Parse([]byte(`{
		"p": {"job_id": "{d}_{i}", "autofill_values": {"i": "0:3"}},
		"m": {"job_id": "{d}_{i}", "autofill_values": {"i": "0:3"}, "depends_on": {"app_name": ["p"]}},
		"c": {"job_id": "{d}", "depends_on": {"app_name": ["m"], "i": "all"}}}`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := sched.New(cfg, nil)
	c, err := s.Resolve(store.Ref{App: "c", JobID: "1"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Resolve(store.Ref{App: "m", JobID: "1_2"})
	if err != nil {
		t.Fatal(err)
	}
	st := newSet(MaxJobs)
	for _, j := range []sched.Job{m, c, m} {
		if err := st.add(s, j); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for i, r := range st.refs {
		var ps []string
		for _, p := range st.parents[i] {
			if int(p) >= i {
				t.Errorf("%v: parent %v not before it", r, st.refs[p])
			}
			ps = append(ps, st.refs[p].String())
		}
		got = append(got, r.String()+" <- "+strings.Join(ps, ", "))
	}
	want := []string{
		"p 1_2 <- ", "m 1_2 <- p 1_2",
		"p 1_0 <- ", "m 1_0 <- p 1_0", "p 1_1 <- ", "m 1_1 <- p 1_1",
		"c 1 <- m 1_0, m 1_1, m 1_2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	small := newSet(4)
	err = small.add(s, c)
	if want := "c 1 and its ancestors: more than 4 jobs in all, the most one run follows"; err == nil || err.Error() != want {
		t.Errorf("got error %v, want %q", err, want)
	}
}
