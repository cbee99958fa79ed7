package metrics

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/backend/backendtest"
	"github.com/stolos-sched/stolos/lib/store"
)

// BenchmarkScrape gathers the metrics of one app (with the default
// window) of 1,000 jobs and of 100,000, on the local and Redis backends:
// the cost must not grow with the jobs. Each app has the same 10 attempts
// in the window, and the rest of its jobs queued.
func BenchmarkScrape(b *testing.B) {
	ctx := context.Background()
	sizes := []int{1000, 100000}
	backends := []backendtest.Opener{backendtest.Local, backendtest.Redis}
	for _, bk := range backends {
		be := bk.Open(b)
		for _, n := range sizes {
			fillApp(b, be, fmt.Sprintf("app%d", n), n)
		}
		for _, n := range sizes {
			app := fmt.Sprintf("app%d", n)
			b.Run(fmt.Sprintf("%s/jobs=%d", bk.Name, n), func(b *testing.B) {
				reg := newRegistry(&collector{ctx: ctx, r: be, apps: []string{app}, window: DefaultWindow, now: time.Now})
				b.ResetTimer()
				for b.Loop() {
					if err := write(io.Discard, reg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// fillApp submits n jobs of app in steps of store.Batch, and runs 10 of
// them to completion (10 attempts in the window).
func fillApp(b *testing.B, be store.Backend, app string, n int) {
	b.Helper()
	ctx := context.Background()
	items := make([]store.SubmitItem, 0, store.Batch)
	for i := range n {
		items = append(items, store.SubmitItem{Node: store.Node{Ref: store.Ref{App: app, JobID: fmt.Sprint(i)}}, Priority: store.DefaultPriority})
		if len(items) == store.Batch || i == n-1 {
			if _, err := be.Submit(ctx, items); err != nil {
				b.Fatal(err)
			}
			items = items[:0]
		}
	}
	res, err := be.Claim(ctx, store.ClaimRequest{App: app, Owner: "bench", N: 10, Lease: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range res.Leases {
		if err := be.Complete(ctx, l, store.OutcomeOK, nil); err != nil {
			b.Fatal(err)
		}
	}
	var got int
	if err := be.AppHistory(ctx, app, time.Now().Add(-time.Hour), time.Time{}, func(store.Attempt) error { got++; return nil }); err != nil {
		b.Fatal(err)
	}
	if got != 10 {
		b.Fatalf("%s: %d attempts in the window, want 10", app, got)
	}
}
