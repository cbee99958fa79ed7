package zookeeper

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/stolos-sched/stolos/lib/store"
)

// A limit (store.Limit) is a set of slot nodes,
//
//	/limits/<name>/<i>    data: the app TAB job id of the job that took it
//
// for i below the limit's Max. A claim takes a slot of each of its limits
// for each job it claims, in its multi-op: it creates a slot that is not
// there, or overwrites (version-checked) one that is free, so two claims
// never take the same slot. A slot is free when its job holds no live
// lease, or a slot listed before it names the same job: slots
// are freed lazily, by the claim that next looks, and a job that ends
// (completed, failed, parked, released, its lease expired) needs no
// write of its slot. The claim reads the slots and their jobs before its
// multi-op; a job seen without a live lease never gets one back under
// that lease (a new lease of it is a new claim, which takes a slot of its
// own, preferring the one naming it), so a slot seen free stays free.
func (p paths) limits() string { return p.root + "/limits" }

func (p paths) limit(name string) string { return p.limits() + "/" + escapeName(name) }

// slot is a free slot of a limit as a claim read it.
type slot struct {
	path    string
	version int32     // -1: absent, create it
	job     store.Ref // the job it names, if any
}

// slotSet is the free slots of the limits of a claim, for limits[i].
type slotSet [][]slot

// readSlots reads the free slots of each limit, and the room they leave
// a claim of at most n jobs (and the limit that leaves fewer, if any).
// The lease of ending, if any, is taken as ended.
func (b *Backend) readSlots(ctx context.Context, limits []store.Limit, n int, ending store.Ref) (slotSet, int, string, error) {
	free := make(slotSet, len(limits))
	running := make([]int, len(limits))
	now := b.now()
	for i, l := range limits {
		dir := b.p.limit(l.Name)
		if err := b.ensure(ctx, dir); err != nil {
			return nil, 0, "", err
		}
		names, err := b.children(ctx, dir)
		if err != nil {
			return nil, 0, "", b.wrap(dir, err)
		}
		taken := make([]slot, len(names))
		if err := parallel(len(names), func(k int) error {
			p := dir + "/" + names[k]
			return b.retry(ctx, func() error {
				data, st, err := b.conn.Get(p)
				if err == zk.ErrNoNode {
					taken[k] = slot{path: p, version: -1}
					return nil
				}
				if err != nil {
					return err
				}
				taken[k] = slot{path: p, version: st.Version}
				if app, id, ok := strings.Cut(string(data), "\t"); ok {
					taken[k].job = store.Ref{App: app, JobID: id}
				}
				return nil
			})
		}); err != nil {
			return nil, 0, "", b.wrap(dir, err)
		}
		refs := make([]store.Ref, len(taken))
		for k, s := range taken {
			refs[k] = s.job
		}
		jobs, err := b.getSome(ctx, refs)
		if err != nil {
			return nil, 0, "", err
		}
		byNum := map[int]slot{}
		there := map[int]bool{}
		counted := map[store.Ref]bool{}
		for k, s := range taken {
			num, err := strconv.Atoi(names[k])
			if err == nil {
				there[num] = true
			}
			live := s.version >= 0 && s.job.App != "" && s.job != ending && jobs[k].Owner != "" && jobs[k].Until.UnixMilli() > now && !counted[s.job]
			if live {
				counted[s.job] = true
				running[i]++
			}
			if err == nil && num < l.Max && !live {
				byNum[num] = s
			}
		}
		// The free slots that are there, then as many missing ones (the
		// lowest) as make n: the work is in the slots there and n, not in
		// Max, which may be large.
		for _, num := range slices.Sorted(maps.Keys(byNum)) {
			free[i] = append(free[i], byNum[num])
		}
		for num := 0; num < l.Max && len(free[i]) < n; num++ {
			if !there[num] {
				free[i] = append(free[i], slot{path: dir + "/" + strconv.Itoa(num), version: -1})
			}
		}
	}
	n, by := store.Room(limits, running, n)
	return free, n, by, nil
}

// getSome is Get of refs, with the zero Ref read as absent.
func (b *Backend) getSome(ctx context.Context, refs []store.Ref) ([]store.Job, error) {
	var some []store.Ref
	var at []int
	for k, r := range refs {
		if r.App != "" && r.JobID != "" {
			some = append(some, r)
			at = append(at, k)
		}
	}
	got, err := b.Get(ctx, some)
	if err != nil {
		return nil, err
	}
	out := make([]store.Job, len(refs))
	for k, j := range got {
		out[at[k]] = j
	}
	return out, nil
}

// take adds to t the operations that give job one free slot of each
// limit (the one that names it, if any), and removes them from s. A limit
// has at least as many free slots as the room readSlots found.
func (t *txn) take(s slotSet, job store.Ref) error {
	data := []byte(job.App + "\t" + job.JobID)
	for i := range s {
		if len(s[i]) == 0 {
			return fmt.Errorf("zookeeper %s: claim %v: no free slot left (a bug)", t.b.hosts, job)
		}
		k := 0
		for j, sl := range s[i] {
			if sl.job == job {
				k = j
				break
			}
		}
		sl := s[i][k]
		s[i] = append(s[i][:k:k], s[i][k+1:]...)
		if sl.version < 0 {
			t.add(&zk.CreateRequest{Path: sl.path, Data: data, Acl: t.b.acl})
		} else {
			t.add(&zk.SetDataRequest{Path: sl.path, Data: data, Version: sl.version})
		}
	}
	return nil
}

// limited is what a claim's limits let it take: the free slots, the room
// (at most the number of candidates), and the limit that leaves less
// room than that ("" if none).
type limited struct {
	free slotSet
	room int
	by   string
}

// limitsFor reads the slots of req's limits for a claim of n candidates;
// nil when req has no limits. The lease of ending is taken as ended (the
// claim's multi-op completes it).
func (b *Backend) limitsFor(ctx context.Context, req store.ClaimRequest, n int, ending store.Ref) (*limited, error) {
	if len(req.Limits) == 0 {
		return nil, nil
	}
	free, room, by, err := b.readSlots(ctx, req.Limits, n, ending)
	if err != nil {
		return nil, err
	}
	return &limited{free: free, room: room, by: by}, nil
}
