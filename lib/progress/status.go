package progress

import (
	"time"

	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// Status is where a job of the set stands, as progress counts it.
type Status uint8

// The statuses, in display order. Completed, Failed and Skipped are the
// job's state (Failed: failed and not queued, its attempts used up);
// Running, Queued and Waiting will move without anyone's help; Blocked and
// Unqueued will not.
const (
	Completed Status = iota
	Running          // claimed under a live lease
	Queued           // queued, not claimed
	Waiting          // absent or pending and not queued; an ancestor or descendant that will run leads to it
	Failed
	Skipped
	Blocked  // not completed, with a failed or skipped ancestor: it will never run
	Unqueued // absent or pending and not queued, and nothing queued leads to it
	nStatus
)

var statusNames = [nStatus]string{"completed", "running", "queued", "waiting", "failed", "skipped", "blocked", "unqueued"}

func (s Status) String() string { return statusNames[s] }

// open is a job's base status before the set is looked at: absent, or
// pending and not queued.
const open = nStatus

// base is job j's status from its own state alone (open for absent or
// pending and not queued).
func base(j store.Job, now time.Time) Status {
	switch {
	case j.State == store.Completed:
		return Completed
	case j.State == store.Skipped:
		return Skipped
	case j.State == store.Failed && !j.Queued:
		return Failed
	case j.Claimed(now):
		return Running
	case j.Queued:
		return Queued
	}
	return open
}

// classify turns the base statuses of the set's jobs (base) into their
// statuses, from their ancestors' and descendants' (in place), and
// returns for each blocked job the parent that blocks it (via).
//
// A job that is not completed, failed, skipped or running, with a failed,
// skipped or blocked parent, is blocked: a queued one parks when claimed.
// Any other queued or running job pulls its ancestors that are not
// completed (bubble-up queues them when it is claimed), and an absent or
// unqueued pending job that is pulled is waiting. One that is not pulled
// is waiting if its parents are completed or will move, one of them at
// least will (the completion of the last queues it), and unqueued if not
// (its parents are completed and nothing queued it, or one of them is
// unqueued, or it has none).
func (st *set) classify(status []Status) (via []int32) {
	via = make([]int32, len(status))
	for i := range status {
		via[i] = -1
		if s := status[i]; s != Queued && s != open {
			continue
		}
		for _, p := range st.parents[i] {
			if s := status[p]; s == Failed || s == Skipped || s == Blocked {
				status[i], via[i] = Blocked, p
				break
			}
		}
	}
	pulled := make([]bool, len(status))
	for i := len(status) - 1; i >= 0; i-- {
		s := status[i]
		if s == Running || s == Queued || (s == open && pulled[i]) {
			for _, p := range st.parents[i] {
				pulled[p] = true
			}
		}
	}
	for i, s := range status {
		if s != open {
			continue
		}
		if pulled[i] {
			status[i] = Waiting
			continue
		}
		anyLive, stuck := false, false
		for _, p := range st.parents[i] {
			switch status[p] {
			case Completed:
			case Running, Queued, Waiting:
				anyLive = true
			default:
				stuck = true
			}
		}
		if anyLive && !stuck {
			status[i] = Waiting
		} else {
			status[i] = Unqueued
		}
	}
	return via
}

// blockedBy says what blocks job i, a blocked job, as stolos-state does:
// "blocked: ancestor ingest 20260110_crm failed (3 attempts; last: exit 1)".
// ends holds the states of the failed and skipped jobs.
func (st *set) blockedBy(i int32, via []int32, ends map[int32]store.Job, now time.Time) string {
	path := []store.Job{{Ref: st.refs[i]}}
	for j := via[i]; j >= 0; j = via[j] {
		if e, ok := ends[j]; ok {
			path = append(path, e)
			break
		}
		path = append(path, store.Job{Ref: st.refs[j]})
	}
	return sched.Blockers{Blocked: [][]store.Job{path}}.String(now)
}
