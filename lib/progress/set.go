package progress

import (
	"fmt"

	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// MaxJobs bounds the set: the jobs read and their ancestors. A set that
// would hold more is refused (a job holds its ref, its map entry and its
// parents' indices: a few hundred bytes).
const MaxJobs = 1_000_000

// set is the jobs asked for and all their ancestors, each once, parents
// before children (a topological order), computed once from the graph.
type set struct {
	refs    []store.Ref
	parents [][]int32 // indices into refs, each smaller than the job's own
	index   map[store.Ref]int32
	max     int
}

func newSet(max int) *set { return &set{index: map[store.Ref]int32{}, max: max} }

// building marks a job whose ancestors are being added.
const building = -1

// add adds job j and its ancestors that are not in the set yet, walking
// up depth first without recursion, so that each job is appended after
// its parents.
func (st *set) add(s *sched.Sched, j sched.Job) error {
	if _, ok := st.index[j.Ref()]; ok {
		return nil
	}
	type frame struct {
		job     sched.Job
		parents []sched.Job
		next    int
	}
	if len(st.index) >= st.max {
		return fmt.Errorf("%s %s and its ancestors: more than %d jobs in all, the most one run follows", j.App.Name, j.ID, st.max)
	}
	st.index[j.Ref()] = building
	stack := []frame{{job: j, parents: s.Parents(j)}}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.next < len(f.parents) {
			p := f.parents[f.next]
			f.next++
			if _, ok := st.index[p.Ref()]; ok {
				continue // in the set, or an ancestor of itself (the graph has no cycle)
			}
			if len(st.index) >= st.max {
				return fmt.Errorf("%s %s and its ancestors: more than %d jobs in all, the most one run follows", j.App.Name, j.ID, st.max)
			}
			st.index[p.Ref()] = building
			stack = append(stack, frame{job: p, parents: s.Parents(p)})
			continue
		}
		ps := make([]int32, len(f.parents))
		for k, p := range f.parents {
			ps[k] = st.index[p.Ref()]
		}
		i := int32(len(st.refs))
		st.index[f.job.Ref()] = i
		st.refs = append(st.refs, f.job.Ref())
		st.parents = append(st.parents, ps)
		stack = stack[:len(stack)-1]
	}
	return nil
}
