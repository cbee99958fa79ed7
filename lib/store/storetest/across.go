package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// BenchClaimAcross measures what a claim across apps (ClaimRequest.Apps,
// a worker over several apps) costs against claims of one app: two
// workers (backends) complete and claim (CompleteClaim) b.N jobs of each
// of two apps, either app by app (per-app: the first until it is empty,
// then the second) or across both (the apps listed in round-robin order
// from the one after the app of the last job), alternating in the order
// ABBA, each round in apps of their own. It reports the median time and
// CPU time (of this process: all of it for the local backend) per job of
// each, and their ratios.
func BenchClaimAcross(b *testing.B, h Harness) {
	const rounds = 5
	bs := h.twoBackends(b)
	ctx := context.Background()
	// drain completes and claims with next until it claims nothing.
	drain := func(be store.Backend, next func(last string) store.ClaimRequest) error {
		var l *store.Lease
		for {
			var res store.ClaimResult
			var err error
			if l == nil {
				res, err = be.Claim(ctx, next(""))
			} else {
				var done error
				res, done, err = store.CompleteClaim(ctx, be, *l, "exit 0", nil, next(l.App))
				if done != nil {
					return done
				}
			}
			if err != nil || len(res.Leases) == 0 {
				return err
			}
			l = &res.Leases[0]
		}
	}
	var per, across, perCPU, acrossCPU []float64
	b.ResetTimer()
	for r := range 2 * rounds {
		b.StopTimer()
		apps := []string{"x" + strconv.Itoa(r), "y" + strconv.Itoa(r)}
		for _, app := range apps {
			var items []store.SubmitItem
			for i := 0; i < b.N; i++ {
				items = append(items, item(app, strconv.Itoa(i), 100))
				if len(items) == store.Batch || i == b.N-1 {
					if _, err := bs[0].Submit(ctx, items); err != nil {
						b.Fatal(err)
					}
					items = items[:0]
				}
			}
		}
		multi := r%4 == 1 || r%4 == 2 // per-app, across, across, per-app, ...
		b.StartTimer()
		start, cpu := time.Now(), cpuTime()
		errs := make(chan error, len(bs))
		for w, be := range bs {
			owner := "w" + strconv.Itoa(w)
			go func() {
				if multi {
					errs <- drain(be, func(last string) store.ClaimRequest {
						req := store.ClaimRequest{Owner: owner, N: 1, Lease: longLease}
						first := 0
						if last == apps[0] {
							first = 1
						}
						for k := range apps {
							req.Apps = append(req.Apps, store.AppClaim{App: apps[(first+k)%len(apps)]})
						}
						return req
					})
					return
				}
				for _, app := range apps {
					if err := drain(be, func(string) store.ClaimRequest { return claimReq(app, owner, 1, longLease) }); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range bs {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		t := float64(time.Since(start).Nanoseconds()) / float64(2*b.N)
		c := float64((cpuTime() - cpu).Nanoseconds()) / float64(2*b.N)
		if multi {
			across, acrossCPU = append(across, t), append(acrossCPU, c)
		} else {
			per, perCPU = append(per, t), append(perCPU, c)
		}
	}
	mp, ma := median(per), median(across)
	cp, ca := median(perCPU), median(acrossCPU)
	b.ReportMetric(mp, "per-app-ns/job")
	b.ReportMetric(ma, "across-ns/job")
	b.ReportMetric(ma/mp, "across/per-app")
	b.ReportMetric(cp, "per-app-cpu-ns/job")
	b.ReportMetric(ca, "across-cpu-ns/job")
	b.ReportMetric(ca/cp, "across/per-app-cpu")
}
