package store

import (
	"fmt"
	"slices"
)

// Limit caps how many jobs of a set of apps run at once, across the
// fleet: an app's max_running, or a pool several apps share. A job runs
// while it holds a live lease (one that has not ended: a claim's,
// transferable or not, a named job's, and a revoked one whose holder is
// still stopping its command). A claim takes no job that would bring
// the running jobs of one of its limits' apps past Max: the job stays
// queued, and the claim says which limit held it back
// (ClaimResult.Limited). A lease that ends frees its slot, so a dead
// worker's job holds it at most a lease. Acquire (a named job) is not
// held back; see each backend for whether its lease counts (DESIGN.md,
// "Limits and pools").
type Limit struct {
	Name string   // "app NAME" or "pool NAME": for messages, and the backend's key
	Max  int      // at least 1
	Apps []string // the apps whose running jobs count; the claim's app among them
}

// checkLimits checks the limits of a claim of app.
func checkLimits(app string, limits []Limit) error {
	for _, l := range limits {
		switch {
		case l.Name == "":
			return fmt.Errorf("a limit with no name")
		case l.Max < 1:
			return fmt.Errorf("limit %s: max %d is less than 1", l.Name, l.Max)
		case !slices.Contains(l.Apps, app):
			return fmt.Errorf("limit %s: its apps do not include %q", l.Name, app)
		}
		for _, a := range l.Apps {
			if err := checkApp(a); err != nil {
				return fmt.Errorf("limit %s: %w", l.Name, err)
			}
		}
	}
	return nil
}

// Room is how many jobs, at most n, the limits let a claim take, given
// the number running of each limit's apps (running[i] for limits[i]), and
// the name of the limit that allows fewer than n ("" if none does).
func Room(limits []Limit, running []int, n int) (int, string) {
	by := ""
	for i, l := range limits {
		if r := max(l.Max-running[i], 0); r < n {
			n, by = r, l.Name
		}
	}
	return n, by
}
