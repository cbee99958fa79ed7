package graphviz

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/backend"
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/dot"
	"github.com/stolos-sched/stolos/lib/related"
	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/redis/redistest"
	"github.com/stolos-sched/stolos/lib/store/zookeeper/zktest"
)

// fanIn writes a configuration where aggregate DATE needs the 10,000
// ingest jobs DATE_0 .. DATE_9999, and fills the backend that the flags qb
// name: ingest 9900..9999 are queued and 9990..9999 of them failed. It
// returns the flags that point stolos-graph at both.
func fanIn(tb testing.TB, qb ...string) []string {
	tb.Helper()
	dir := tb.TempDir()
	tasks := filepath.Join(dir, "tasks.json")
	err := os.WriteFile(tasks, []byte(`{
		"ingest": {"job_id": "{date}_{n}", "autofill_values": {"n": "0:10000"}},
		"aggregate": {"job_id": "{date}", "depends_on": {"app_name": ["ingest"]}}}`), 0o666)
	if err != nil {
		tb.Fatal(err)
	}
	if len(qb) == 0 {
		qb = []string{"-queue-backend", "local", "-qb-local-path", filepath.Join(dir, "stolos.db")}
	}
	fs := flag.NewFlagSet("qb", flag.ContinueOnError)
	var f backend.Flags
	f.Register(fs)
	if err := fs.Parse(qb); err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	b, err := f.Open(ctx, io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	defer b.Close()
	var items []store.SubmitItem
	for n := 9900; n < 10000; n++ {
		items = append(items, store.SubmitItem{Node: store.Node{Ref: store.Ref{App: "ingest", JobID: fmt.Sprintf("20260110_%d", n)}}})
	}
	if _, err := b.Submit(ctx, items); err != nil {
		tb.Fatal(err)
	}
	for n := 9990; n < 10000; n++ {
		if err := b.SetState(ctx, store.Ref{App: "ingest", JobID: fmt.Sprintf("20260110_%d", n)}, store.Failed, "set failed"); err != nil {
			tb.Fatal(err)
		}
	}
	return append([]string{"-tasks-json", tasks}, qb...)
}

// A 10,000-parent fan-in is drawn as -max jobs and one summary of the
// rest with their states.
func TestFanIn(t *testing.T) {
	var stdout, stderr strings.Builder
	args := append(fanIn(t), "-up", "-a", "aggregate", "20260110")
	if status := Main(args, nil, &stdout, &stderr); status != 0 || stderr.Len() > 0 {
		t.Fatalf("status %d, stderr %q", status, stderr.String())
	}
	out := stdout.String()
	jobs := regexp.MustCompile(`(?m)^\t"(aggregate|ingest) [0-9_]+" \[fillcolor`).FindAllString(out, -1)
	if len(jobs) != DefaultMax {
		t.Errorf("%d jobs drawn, want %d", len(jobs), DefaultMax)
	}
	const summary = "\t\"+ ingest of aggregate 20260110\" [shape=note, fillcolor=white, label=\"+ 9,501 more ingest jobs: 9,401 absent, 90 queued, 10 failed\"];\n"
	if !strings.Contains(out, summary) {
		t.Errorf("no summary line %q in\n%s", summary, regexp.MustCompile(`(?m)^.*more ingest.*$`).FindString(out))
	}
	for _, want := range []string{"\t\"ingest 20260110_498\" -> \"aggregate 20260110\";\n", "\t\"+ ingest of aggregate 20260110\" -> \"aggregate 20260110\" [style=dashed];\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q", want)
		}
	}
	if strings.Contains(out, "20260110_499\"") {
		t.Errorf("ingest 20260110_499 drawn, beyond -max")
	}
}

// -down from a job with 100 children and -max 3: two children drawn, the
// other 98 one note below the job, the states of 60 (20 x -max) read.
func TestDownSummary(t *testing.T) {
	dir := t.TempDir()
	tasks := filepath.Join(dir, "tasks.json")
	err := os.WriteFile(tasks, []byte(`{
		"ingest": {"job_id": "{date}"},
		"report": {"job_id": "{date}_{n}", "autofill_values": {"n": "0:100"}, "depends_on": {"app_name": ["ingest"]}}}`), 0o666)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	args := []string{"-tasks-json", tasks, "-qb-local-path", filepath.Join(dir, "stolos.db"), "-down", "-max", "3", "-a", "ingest", "20260110"}
	if status := Main(args, nil, &stdout, &stderr); status != 0 || stderr.Len() > 0 {
		t.Fatalf("status %d, stderr %q", status, stderr.String())
	}
	want := `digraph jobs {
	node [shape=box, style=filled, fontname="sans-serif"];
	"ingest 20260110" [fillcolor="white", label="ingest\n20260110", style="filled,dashed", penwidth=3];
	"report 20260110_0" [fillcolor="white", label="report\n20260110_0", style="filled,dashed"];
	"report 20260110_1" [fillcolor="white", label="report\n20260110_1", style="filled,dashed"];
	"+ report of ingest 20260110" [shape=note, fillcolor=white, label="+ 98 more report jobs: 60 absent, 38 not read"];
	"ingest 20260110" -> "report 20260110_0";
	"ingest 20260110" -> "report 20260110_1";
	"ingest 20260110" -> "+ report of ingest 20260110" [style=dashed];
	"legend" [shape=plaintext, style=solid, label=<<table border="0" cellborder="1" cellspacing="3" cellpadding="4"><tr><td border="0">state:</td><td bgcolor="white" style="dashed">absent</td></tr></table>>];
}
`
	if got := stdout.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// With -max 10, the states of 200 jobs left out are read (ReadFactor),
// and the others are counted as not read.
func TestFanInUnread(t *testing.T) {
	var stdout, stderr strings.Builder
	args := append(fanIn(t), "-up", "-max", "10", "-a", "aggregate", "20260110")
	if status := Main(args, nil, &stdout, &stderr); status != 0 || stderr.Len() > 0 {
		t.Fatalf("status %d, stderr %q", status, stderr.String())
	}
	const summary = "label=\"+ 9,991 more ingest jobs: 200 absent, 9,791 not read\"];\n"
	if got := regexp.MustCompile(`(?m)^.*more ingest.*$`).FindString(stdout.String()); !strings.HasSuffix(got+"\n", summary) {
		t.Errorf("summary %q, want one ending %q", got, summary)
	}
}

// BenchmarkFanIn draws the ancestry of a job with 10,000 parents on each
// backend: the walk, one Get of the 10,000 jobs, and the DOT of -max jobs.
func BenchmarkFanIn(b *testing.B) {
	for _, name := range backend.Names {
		b.Run(name, func(b *testing.B) {
			var qb []string
			switch name {
			case "redis":
				srv := redistest.Start(b)
				qb = []string{"-queue-backend", "redis", "-qb-redis-host", srv.Host(), "-qb-redis-port", strconv.Itoa(srv.Port())}
			case "zookeeper":
				srv := zktest.Start(b)
				qb = []string{"-queue-backend", "zookeeper", "-qb-zookeeper-hosts", srv.Hosts() + "/graph"}
			}
			args := append(fanIn(b, qb...), "-up", "-a", "aggregate", "20260110")
			for b.Loop() {
				if status := Main(args, nil, io.Discard, io.Discard); status != 0 {
					b.Fatalf("status %d", status)
				}
			}
		})
	}
}

// BenchmarkPicture is stolos-graph's own share of BenchmarkFanIn: the walk
// over a 10,000-parent fan-in, the summary, and the DOT, without a backend
// (every job absent).
func BenchmarkPicture(b *testing.B) {
	cfg, err := config.Parse([]byte(`{
		"ingest": {"job_id": "{date}_{n}", "autofill_values": {"n": "0:10000"}},
		"aggregate": {"job_id": "{date}", "depends_on": {"app_name": ["ingest"]}}}`), config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	a := cfg.App("aggregate")
	for b.Loop() {
		p := newPicture(related.Parents, DefaultMax)
		p.root(store.Ref{App: "aggregate", JobID: "20260110"})
		if err := p.walk.Root(a, []string{"20260110"}); err != nil {
			b.Fatal(err)
		}
		if err := p.walk.Finish(); err != nil {
			b.Fatal(err)
		}
		refs := p.refs()
		p.color(refs, make([]store.Job, len(refs)), time.Now())
		if err := dot.Jobs(io.Discard, &p.g); err != nil {
			b.Fatal(err)
		}
		if len(p.g.Summaries) != 1 || p.g.Summaries[0].Count != 10000-DefaultMax+1 {
			b.Fatalf("summaries %+v", p.g.Summaries)
		}
	}
}
