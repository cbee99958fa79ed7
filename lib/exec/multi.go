package exec

import (
	"context"
	"slices"
	"strings"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// apps is what -a and -all name: one app, several (-a A,B), or every app
// of the configuration (-all).
type apps struct {
	names []string // in the order given, each once; with all, from the configuration
	all   bool
}

// appList reads -a and -all; named says whether job ids were named, which
// only one app may have.
func appList(f *flags, named bool) (apps, error) {
	a := apps{all: f.All}
	if !f.All {
		for _, n := range strings.Split(f.App, ",") {
			if n == "" {
				return a, cli.Usagef("-a %q: empty app name", f.App)
			}
			if !slices.Contains(a.names, n) {
				a.names = append(a.names, n)
			}
		}
	}
	if a.multi() && named {
		return a, cli.Usagef("several apps (-a %s) claim jobs: name no job ids", a.spelling())
	}
	return a, nil
}

// spelling is how the apps were named, for messages.
func (a apps) spelling() string {
	if a.all {
		return "-all"
	}
	return strings.Join(a.names, ",")
}

// multi says whether jobs are claimed across several apps (-all, or -a
// with more than one), which drains: the run goes on while any of them
// has a runnable job, without -loop too.
func (a apps) multi() bool { return a.all || len(a.names) > 1 }

// one is the app that the configuration must have before anything else
// (sched.Setup.Open): the one app, or "" for several (resolve checks them).
func (a apps) one() string {
	if a.multi() {
		return ""
	}
	return a.names[0]
}

// resolve checks the apps against the configuration, and lists them all
// for -all.
func (a *apps) resolve(cfg *config.Config) error {
	if a.all {
		a.names = cfg.Names()
		return nil
	}
	for _, n := range a.names {
		if cfg.App(n) == nil {
			return cli.Usagef("unknown app %q", n)
		}
	}
	return nil
}

// claimFunc claims the next job (handing it to take), recording c, the
// success of the previous job, in the same backend step (recorded gets
// its error).
type claimFunc func(ctx context.Context, c *sched.Completion, recorded func(error), take func(store.Lease) error, parked func(sched.Parked)) error

// claimer returns how this worker claims, and whether it loops: a claim of
// its one app (-loop loops), or of the best job across its apps
// (sched.ClaimAny), which always loops until none has a runnable job.
func (w *worker) claimer() (claimFunc, bool) {
	req := store.ClaimRequest{Owner: w.owner, N: 1, Lease: w.f.Lease}
	if w.apps.multi() {
		as := &sched.Apps{Names: w.apps.names, MaxRetry: func(app string) int { return w.maxRetry(w.s.Cfg.App(app)) }}
		return func(ctx context.Context, c *sched.Completion, recorded func(error), take func(store.Lease) error, parked func(sched.Parked)) error {
			_, err := w.s.ClaimAny(ctx, as, c, recorded, req, w.f.Wait, take, parked)
			return err
		}, true
	}
	req.App = w.apps.names[0]
	req.MaxRetry = w.maxRetry(w.s.Cfg.App(req.App))
	return func(ctx context.Context, c *sched.Completion, recorded func(error), take func(store.Lease) error, parked func(sched.Parked)) error {
		var err error
		if c != nil {
			_, err = w.s.CompleteClaim(ctx, *c, recorded, req, w.f.Wait, take, parked)
		} else {
			_, err = w.s.Claim(ctx, req, w.f.Wait, take, parked)
		}
		return err
	}, w.f.Loop
}
