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

	"github.com/stolos-sched/stolos/lib/backend"
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
