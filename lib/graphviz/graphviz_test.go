package graphviz

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/local"
)

// fanIn writes a configuration where aggregate DATE needs the 10,000
// ingest jobs DATE_0 .. DATE_9999, and a local backend where ingest
// 9900..9999 are queued and 9990..9999 of them failed. It returns the
// flags that point stolos-graph at both.
func fanIn(tb testing.TB) []string {
	tb.Helper()
	dir := tb.TempDir()
	tasks := filepath.Join(dir, "tasks.json")
	err := os.WriteFile(tasks, []byte(`{
		"ingest": {"job_id": "{date}_{n}", "autofill_values": {"n": "0:10000"}},
		"aggregate": {"job_id": "{date}", "depends_on": {"app_name": ["ingest"]}}}`), 0o666)
	if err != nil {
		tb.Fatal(err)
	}
	db := filepath.Join(dir, "stolos.db")
	ctx := context.Background()
	b, err := local.Open(ctx, db)
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
	return []string{"-tasks-json", tasks, "-queue-backend", "local", "-qb-local-path", db}
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

// BenchmarkFanIn draws the ancestry of a job with 10,000 parents: the
// walk, one Get of 10,000 jobs (local backend), and the DOT of -max jobs.
func BenchmarkFanIn(b *testing.B) {
	args := append(fanIn(b), "-up", "-a", "aggregate", "20260110")
	for b.Loop() {
		if status := Main(args, nil, io.Discard, io.Discard); status != 0 {
			b.Fatalf("status %d", status)
		}
	}
}
