package local

import (
	"strconv"
	"strings"

	"github.com/stolos-sched/stolos/lib/store"
)

// limitApps is the apps of limits, each once, and for each limit the
// indexes of its apps there.
func limitApps(limits []store.Limit) ([]string, [][]int) {
	var apps []string
	at := map[string]int{}
	of := make([][]int, len(limits))
	for i, l := range limits {
		for _, a := range l.Apps {
			k, ok := at[a]
			if !ok {
				k = len(apps)
				at[a] = k
				apps = append(apps, a)
			}
			of[i] = append(of[i], k)
		}
	}
	return apps, of
}

// room is how many jobs, at most n, a claim's limits let it take, and the
// limit that allows fewer than n ("" if none), given the live leases of
// each app of limitApps (per), which the claim's transaction counted (in
// the statement of waiting), so two claims never both take a limit's last
// slot.
func room(limits []store.Limit, of [][]int, per []int, n int) (int, string) {
	running := make([]int, len(limits))
	for i := range limits {
		for _, k := range of[i] {
			running[i] += per[k]
		}
	}
	return store.Room(limits, running, n)
}

// waitingQuery is the statement of waiting for k apps: when the app's (?1)
// first waiting entry wakes, its queue generation, and the live leases at
// a time (?2) of each of k apps (?3 to ?k+2): runningExpr of each. Made
// once per k and Backend.
func (b *Backend) waitingQuery(k int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if q, ok := b.waitingQ[k]; ok {
		return q
	}
	q := "SELECT (SELECT min(wake) FROM jobs WHERE app = ?1 AND queued = 1 AND wake > 0), " +
		"coalesce((SELECT gen FROM apps WHERE app = ?1), 0)"
	for i := range k {
		q += ", " + strings.ReplaceAll(runningExpr, "?1", "?"+strconv.Itoa(i+3))
	}
	b.waitingQ[k] = q
	return q
}
