package local

import "github.com/stolos-sched/stolos/lib/store"

// room is how many jobs, at most n, a claim's limits let it take now, and
// the limit that allows fewer than n ("" if none): the live leases of each
// limit's apps are counted in the claim's transaction, so two claims
// never both take a limit's last slot.
func (tx *txn) room(limits []store.Limit, n int) (int, string, error) {
	if len(limits) == 0 {
		return n, "", nil
	}
	s, err := tx.stmt("SELECT " + runningExpr)
	if err != nil {
		return 0, "", err
	}
	running := make([]int, len(limits))
	for i, l := range limits {
		for _, app := range l.Apps {
			var k int
			if err := s.QueryRowContext(tx.ctx, app, tx.now).Scan(&k); err != nil {
				return 0, "", err
			}
			running[i] += k
		}
	}
	n, by := store.Room(limits, running, n)
	return n, by, nil
}
