package dot

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/dot/dottest"
	"github.com/stolos-sched/stolos/lib/store"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"ingest 20260110_crm", `"ingest 20260110_crm"`},
		{`a"b`, `"a\"b"`},
		{`a\`, `"a\\"`},
		{`\n`, `"\\n"`},
		{"a\nb", `"a\nb"`},
		{"é", `"é"`},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// FuzzQuote: a quoted string is one DOT string: no unescaped double quote
// inside, and no backslash escaping the closing one.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", `a"b`, `a\`, `\"`, "x\ny"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
			t.Fatalf("Quote(%q) = %s: not quoted", s, q)
		}
		body := q[1 : len(q)-1]
		for i := 0; i < len(body); i++ {
			switch body[i] {
			case '\\':
				i++ // the escaped byte
				if i == len(body) {
					t.Fatalf("Quote(%q) = %s: a backslash escapes the closing quote", s, q)
				}
			case '"', '\n':
				t.Fatalf("Quote(%q) = %s: bare %q inside", s, q, body[i])
			}
		}
	})
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 9500: "9,500", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestSummaryLabel(t *testing.T) {
	s := Summary{App: "ingest", Count: 9500, By: map[Status]int{Completed: 9400, Pending: 100}}
	if got, want := s.Label(), "+ 9,500 more ingest jobs: 100 pending, 9,400 completed"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	s = Summary{App: "ingest", Count: 1000000, By: map[Status]int{Completed: 9000, Failed: 1000}, Unread: 990000}
	if got, want := s.Label(), "+ 1,000,000 more ingest jobs: 9,000 completed, 1,000 failed, 990,000 not read"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	s = Summary{App: "ingest", Count: 1, By: map[Status]int{Absent: 1}}
	if got, want := s.Label(), "+ 1 more ingest job: 1 absent"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestStatusOf(t *testing.T) {
	now := store.Job{}.Until.AddDate(2026, 0, 0)
	for _, tc := range []struct {
		j    store.Job
		want Status
	}{
		{store.Job{}, Absent},
		{store.Job{State: store.Pending}, Pending},
		{store.Job{State: store.Pending, Queued: true}, Queued},
		{store.Job{State: store.Pending, Queued: true, Owner: "w", Until: now.Add(1)}, Running},
		{store.Job{State: store.Pending, Queued: true, Owner: "w", Until: now}, Queued}, // lease over
		{store.Job{State: store.Completed}, Completed},
		{store.Job{State: store.Failed}, Failed},
		{store.Job{State: store.Skipped}, Skipped},
	} {
		if got := StatusOf(tc.j, now); got != tc.want {
			t.Errorf("StatusOf(%+v) = %s, want %s", tc.j, got, tc.want)
		}
	}
}

func load(t *testing.T) *config.Config {
	t.Helper()
	data, err := os.ReadFile("testdata/tasks.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// render checks that src is DOT that dot draws without a warning, and
// that the drawing has the nodes titles.
func render(t *testing.T, src string, titles []string) {
	t.Helper()
	dottest.Require(t)
	svg, err := dottest.SVG([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got, err := dottest.Titles(svg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, titles) {
		t.Errorf("svg node titles:\n%q\nwant\n%q", got, titles)
	}
}

func TestApps(t *testing.T) {
	var b strings.Builder
	if err := Apps(&b, load(t), "aggregate"); err != nil {
		t.Fatal(err)
	}
	want := `digraph apps {
	node [shape=box, fontname="sans-serif"];
	edge [fontname="sans-serif", fontsize=10];
	"ingest";
	"aggregate" [peripheries=2, penwidth=3];
	"report" [style=dashed];
	"ingest" -> "aggregate";
	"aggregate" -> "report" [label="daily, backfill"];
	"ingest" -> "report" [label="backfill"];
}
`
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	render(t, want, []string{"ingest", "aggregate", "report"})
}

func TestJobs(t *testing.T) {
	g := &Graph{
		Jobs: []Job{
			{Ref: store.Ref{App: "report", JobID: "20260110"}, Status: Pending, Root: true},
			{Ref: store.Ref{App: "aggregate", JobID: "20260110"}, Status: Queued},
			{Ref: store.Ref{App: "ingest", JobID: `20260110_"crm"\`}, Status: Failed},
		},
		Edges:     [][2]int{{1, 0}, {2, 1}, {2, 0}},
		Summaries: []Summary{{Job: 1, App: "ingest", Count: 9500, By: map[Status]int{Completed: 9400, Running: 100}}},
		Up:        true,
	}
	var b strings.Builder
	if err := Jobs(&b, g); err != nil {
		t.Fatal(err)
	}
	want := `digraph jobs {
	node [shape=box, style=filled, fontname="sans-serif"];
	"report 20260110" [fillcolor="#f0f0f0", label="report\n20260110", penwidth=3];
	"aggregate 20260110" [fillcolor="#9ecae1", label="aggregate\n20260110"];
	"ingest 20260110_\"crm\"\\" [fillcolor="#fb6a4a", label="ingest\n20260110_\"crm\"\\"];
	"+ ingest of aggregate 20260110" [shape=note, fillcolor=white, label="+ 9,500 more ingest jobs: 100 running, 9,400 completed"];
	"aggregate 20260110" -> "report 20260110";
	"ingest 20260110_\"crm\"\\" -> "aggregate 20260110";
	"ingest 20260110_\"crm\"\\" -> "report 20260110";
	"+ ingest of aggregate 20260110" -> "aggregate 20260110" [style=dashed];
	"legend" [shape=plaintext, style=solid, label=<<table border="0" cellborder="1" cellspacing="3" cellpadding="4"><tr><td border="0">state:</td><td bgcolor="#f0f0f0">pending</td><td bgcolor="#9ecae1">queued</td><td bgcolor="#fdd835">running</td><td bgcolor="#a1d99b">completed</td><td bgcolor="#fb6a4a">failed</td></tr></table>>];
}
`
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	render(t, want, []string{"report 20260110", "aggregate 20260110", `ingest 20260110_"crm"\\`, "+ ingest of aggregate 20260110", "legend"})
}
