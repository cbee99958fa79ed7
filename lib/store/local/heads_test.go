package local

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkHeads reads the heads of two apps of 10,000 queued jobs each
// and one empty app (what a worker over three apps reads before each
// claim), beside a Claim of one job (what it reads them for).
func BenchmarkHeads(b *testing.B) {
	be := openBench(b, filepath.Join(b.TempDir(), "stolos.db"))
	fill(b, be, "a", 0, 10_000, 1000)
	fill(b, be, "b", 0, 10_000, 1000)
	ctx := context.Background()
	apps := []string{"a", "b", "c"}
	b.ResetTimer()
	for b.Loop() {
		h, err := be.Heads(ctx, apps)
		if err != nil {
			b.Fatal(err)
		}
		if !h[0].Ready || !h[1].Ready || h[2].Ready {
			b.Fatalf("heads %+v", h)
		}
	}
}
