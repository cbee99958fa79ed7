package expand

import (
	"io"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/jobid"
)

// countWriter counts the bytes and lines written to it.
type countWriter struct{ bytes, lines int }

func (w *countWriter) Write(p []byte) (int, error) {
	w.bytes += len(p)
	for _, c := range p {
		if c == '\n' {
			w.lines++
		}
	}
	return len(p), nil
}

// BenchmarkWrite: the cross product writer of stolos-expand, 100 dates x
// 100 clients x 100 collections (1,000,000 job ids, as make bench runs the
// tool) per op, through the tool's buffered stdout into io.Discard.
func BenchmarkWrite(b *testing.B) {
	v, err := jobid.ParseValidations([]byte(`{"date": {"type": "date", "layout": "20060102"}, "client_id": {"type": "int"}}`))
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`{"a": {"job_id": "{date}_{client_id}_{collection_name}"}}`), config.Options{Validations: v})
	if err != nil {
		b.Fatal(err)
	}
	a := cfg.App("a")
	lists, err := Values(a, []string{"date=20140101..20140410", "client_id=1..100", "collection_name=1..100"}, time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1_000_000
	// Check the output once: every line, and the last one.
	var cw countWriter
	t, _ := newTool(nil, &cw, io.Discard)
	if err := write(t, a, lists); err != nil {
		b.Fatal(err)
	}
	if err := t.Stdout.Flush(); err != nil {
		b.Fatal(err)
	}
	if want := n * len("20140101_1_1\n"); cw.lines != n || cw.bytes < want {
		b.Fatalf("wrote %d lines (%d bytes), want %d lines", cw.lines, cw.bytes, n)
	}
	t, _ = newTool(nil, io.Discard, io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		if err := write(t, a, lists); err != nil {
			b.Fatal(err)
		}
	}
	if err := t.Stdout.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "job_ids/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/job_id")
}
