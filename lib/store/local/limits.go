package local

import (
	"strconv"
	"strings"

	"github.com/stolos-sched/stolos/lib/store"
)

// room is how many jobs, at most n, a claim's limits let it take now, and
// the limit that allows fewer than n ("" if none): the live leases of each
// limit's apps are counted in the claim's transaction (one statement for
// all of them), so two claims never both take a limit's last slot.
func (tx *txn) room(limits []store.Limit, n int) (int, string, error) {
	if len(limits) == 0 {
		return n, "", nil
	}
	var apps []string
	at := map[string]int{}
	for _, l := range limits {
		for _, a := range l.Apps {
			if _, ok := at[a]; !ok {
				at[a] = len(apps)
				apps = append(apps, a)
			}
		}
	}
	s, err := tx.stmt(runningQuery(len(apps)))
	if err != nil {
		return 0, "", err
	}
	args := []any{tx.now}
	dst := make([]any, len(apps))
	per := make([]int, len(apps))
	for i, a := range apps {
		args = append(args, a)
		dst[i] = &per[i]
	}
	if err := s.QueryRowContext(tx.ctx, args...).Scan(dst...); err != nil {
		return 0, "", err
	}
	running := make([]int, len(limits))
	for i, l := range limits {
		for _, a := range l.Apps {
			running[i] += per[at[a]]
		}
	}
	n, by := store.Room(limits, running, n)
	return n, by, nil
}

// runningQuery reads the live leases of k apps (?2 to ?k+1) at a time
// (?1), one column each: runningExpr of each.
func runningQuery(k int) string {
	cols := make([]string, k)
	for i := range cols {
		e := strings.ReplaceAll(runningExpr, "?2", "?T")
		e = strings.ReplaceAll(e, "?1", "?"+strconv.Itoa(i+2))
		cols[i] = strings.ReplaceAll(e, "?T", "?1")
	}
	return "SELECT " + strings.Join(cols, ", ")
}
