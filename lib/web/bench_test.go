package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/web"
)

// BenchmarkPages times the overview (/) and the first page of an app's
// jobs (/app/big, 100 jobs) with 1,000 and with 1,000,000 jobs in the app, on
// local and Redis, rendered in process (no network). The overview is one
// Count per app and a page stops its List at 100 jobs, so both should
// cost the same at either size (DESIGN.md: the overview within 200 ms at
// 1M). Filling a million jobs takes a minute or two; run it with a short
// -benchtime, such as 20x.
func BenchmarkPages(b *testing.B) {
	cfg, err := config.Parse([]byte(`{"big": {"job_id": "{date}_{n}"}, "small": {"job_id": "{date}_{n}"}}`),
		config.Options{Delimiter: "_"})
	if err != nil {
		b.Fatal(err)
	}
	for _, be := range backends {
		for _, n := range []int{1000, 1_000_000} {
			// The outer function runs once: the fill is not timed, and
			// -bench 'Pages/local/jobs=1000/' fills nothing else.
			b.Run(fmt.Sprintf("%s/jobs=%d", be.Name, n), func(b *testing.B) {
				s := sched.New(cfg, be.Open(b))
				start := time.Now()
				fillBench(b, s, "big", n)
				fillBench(b, s, "small", 10)
				b.Logf("filled %d jobs in %v", n, time.Since(start).Round(time.Second))
				h, err := web.New(cfg, s, web.Options{})
				if err != nil {
					b.Fatal(err)
				}
				for _, page := range []struct{ name, path string }{{"overview", "/"}, {"app", "/app/big"}} {
					path := page.path
					b.Run(page.name, func(b *testing.B) {
						req := httptest.NewRequest("GET", path, nil)
						var worst time.Duration
						for range b.N {
							start := time.Now()
							w := httptest.NewRecorder()
							h.ServeHTTP(w, req)
							worst = max(worst, time.Since(start))
							if w.Code != http.StatusOK {
								b.Fatalf("GET %s: %d\n%s", path, w.Code, w.Body)
							}
						}
						b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
					})
				}
			})
		}
	}
}

// fillBench submits n pending, queued jobs of app, 200 a step (Redis
// runs a step as one script: short ones keep a loaded server within the
// client's read timeout).
func fillBench(b *testing.B, s *sched.Sched, app string, n int) {
	b.Helper()
	ctx := context.Background()
	const step = 200
	items := make([]store.SubmitItem, 0, step)
	for i := range n {
		items = append(items, store.SubmitItem{Node: store.Node{Ref: store.Ref{App: app, JobID: fmt.Sprintf("20140601_%d", i)}},
			Priority: store.DefaultPriority})
		if len(items) == step || i == n-1 {
			if _, err := s.Submit(ctx, items); err != nil {
				b.Fatal(err)
			}
			items = items[:0]
		}
	}
}
