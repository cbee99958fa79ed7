package storetest

import (
	"reflect"
	"testing"

	"github.com/stolos-sched/stolos/lib/store"
)

// Heads reads the priority of each queue's first claimable entry, exactly
// for queues of waiting entries and for unknown ones; once entries are
// claimed or completed, a head may be a stale hint (store.Head.Hints):
// never a miss, at worst a better priority than what a Claim finds.
func (s suite) testHeads(t *testing.T) {
	b, _ := s.open(t)
	heads := func(apps ...string) []store.Head {
		t.Helper()
		h, err := b.Heads(ctx(t), apps)
		if err != nil {
			t.Fatalf("heads %v: %v", apps, err)
		}
		return h
	}
	want := func(apps []string, want ...store.Head) {
		t.Helper()
		if got := heads(apps...); !reflect.DeepEqual(got, want) {
			t.Fatalf("heads %v = %+v, want %+v", apps, got, want)
		}
	}
	hint := func(apps []string, want ...store.Head) {
		t.Helper()
		got := heads(apps...)
		for i := range want {
			if !got[i].Hints(want[i]) {
				t.Fatalf("heads %v = %+v, want %+v or stale hints of them", apps, got, want)
			}
		}
	}
	submit(t, b, item("a", "x", 50), item("a", "y", 10), item("b", "z", store.DefaultPriority), item("b", "n", -3))
	apps := []string{"a", "b", "c"}
	want(apps, store.Head{Ready: true, Priority: 10}, store.Head{Ready: true, Priority: -3}, store.Head{})
	if got := heads(); len(got) != 0 {
		t.Fatalf("heads of no app = %+v", got)
	}

	// Claimed: the next entry is the head; none once all are claimed.
	short := claimOne(t, b, "a", longLease)
	hint(apps, store.Head{Ready: true, Priority: 50}, store.Head{Ready: true, Priority: -3}, store.Head{})
	claimOne(t, b, "a", longLease)
	hint(apps, store.Head{}, store.Head{Ready: true, Priority: -3}, store.Head{})

	// The first lease ends: its entry is claimable again, and the head.
	expire(t, b, short)
	hint([]string{"a"}, store.Head{Ready: true, Priority: 10})
	if l := claimOne(t, b, "a", longLease); l.JobID != "y" {
		t.Fatalf("claimed %v after the lease ended, want a y", l.Ref)
	}

	// Completed: gone from the queue.
	l := claimOne(t, b, "b", longLease)
	complete(t, b, l)
	hint([]string{"b"}, store.Head{Ready: true, Priority: store.DefaultPriority})
}
