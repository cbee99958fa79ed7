// Package storetest is the conformance suite of lib/store: one set of tests
// that every backend (SQLite, Redis, ZooKeeper) runs unchanged, so that they
// all implement the same job model with the same guarantees.
//
// A backend package uses it like this:
//
//	var h = storetest.Harness{New: ..., Open: ...}
//
//	func TestMain(m *testing.M) {
//		storetest.MaybeChild(h)
//		// start a server if the backend needs one
//		os.Exit(m.Run())
//	}
//
//	func TestConformance(t *testing.T) { storetest.Run(t, h) }
//
// Some tests start the test binary again as worker processes (through
// MaybeChild), so that the guarantees are checked across OS processes and not
// only across goroutines. A spec string must therefore hold everything a
// fresh process needs to reach the namespace: a file path, or a server
// address with a key prefix or chroot.
//
// Where store.go is silent, the suite pins these down:
//   - Bad arguments are refused by store.Checked, which the suite opens
//     every backend through, with ErrInvalid and one wording.
//   - A lease is lost once it expires, even if nobody took the job over.
//   - Reset descendants of a readd lose their queue entry unless claimed;
//     outcomes are kept; a readd of a queued job still resets its attempts.
//   - Complete with a zero Token of an absent job is ErrNotFound; children
//     are queued with the completed job's stored priority (DefaultPriority
//     for a job that Acquire created).
//   - Fail queues a job that had no queue entry (one run by Acquire).
//   - ParkResult.Parents are the parents before Park changed them.
//   - A revoked lease keeps its owner and expiry (Job.Revoked) until its
//     holder releases it; one that runs out is no abandoned attempt.
//   - SetState to Completed or Absent is an error (bubble-down needs
//     Complete); Count.Claimed counts live leases, queued or not.
//   - ClaimResult.Next ignores the leases the same call handed out.
//   - Wait with a zero until has no deadline.
//   - Lease operations on an absent job are ErrLeaseLost.
//   - Wait returns at once if the app got claimable work after this
//     instance's last Claim (or Wait) of it, so that work queued between a
//     claim that found nothing and the wait is not missed.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Harness opens backends for the suite. New makes a fresh empty namespace (a
// new SQLite file, Redis key prefix, ZooKeeper chroot) and returns a spec
// string; Open turns a spec into a backend, in this process or in a child
// process.
type Harness struct {
	New  func(t testing.TB) string
	Open func(spec string) (store.Backend, error)
}

// suite is one run of the suite: a harness and the test it reports to.
// With oneByOne, the backends it opens hide their CompleteClaim, so that
// store.CompleteClaim falls back to Complete and then Claim.
type suite struct {
	h        Harness
	oneByOne bool
}

// open opens a backend on spec as lib/backend does: through store.Checked.
func (h Harness) open(spec string) (store.Backend, error) {
	b, err := h.Open(spec)
	if err != nil {
		return nil, err
	}
	return store.Checked(b), nil
}

// twoBackends opens two backends on one new namespace, closed when the
// benchmark ends: two workers of the benchmarks, each with its own
// connection.
func (h Harness) twoBackends(b *testing.B) []store.Backend {
	spec := h.New(b)
	bs := make([]store.Backend, 2)
	for i := range bs {
		be, err := h.open(spec)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { be.Close() })
		bs[i] = be
	}
	return bs
}

// oneByOne is a backend without CompleteClaim.
type oneByOne struct{ store.Backend }

// Run runs every conformance test as subtests of t.
func Run(t *testing.T, h Harness) {
	s := suite{h: h}
	for _, c := range s.cases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t)
		})
	}
}

type testCase struct {
	name string
	fn   func(t *testing.T)
}

// cases lists every test of the suite.
func (s suite) cases() []testCase {
	return []testCase{
		{"SubmitNew", s.testSubmitNew},
		{"SubmitExisting", s.testSubmitExisting},
		{"SubmitReadd", s.testSubmitReadd},
		{"SubmitReaddQueued", s.testSubmitReaddQueued},
		{"SubmitBatchDuplicate", s.testSubmitBatchDuplicate},
		{"ClaimPriorityOrder", s.testClaimPriorityOrder},
		{"ClaimInsertionOrder", s.testClaimInsertionOrder},
		{"ClaimSizes", s.testClaimSizes},
		{"ClaimN", s.testClaimN},
		{"ClaimNeverHandsOutNonPending", s.testClaimNonPending},
		{"ClaimApps", s.testClaimApps},
		{"Heads", s.testHeads},
		{"ClaimAcross", s.testClaimAcross},
		{"ClaimParents", s.testClaimParents},
		{"LeaseExpiry", s.testLeaseExpiry},
		{"Renew", s.testRenew},
		{"Release", s.testRelease},
		{"Fencing", s.testFencing},
		{"FencingElsewhere", s.testFencingElsewhere},
		{"CompleteBubbleDown", s.testCompleteBubbleDown},
		{"CompleteIdempotent", s.testCompleteIdempotent},
		{"CompleteWithoutLease", s.testCompleteWithoutLease},
		{"CompleteClaim", s.testCompleteClaim},
		{"CompleteClaimOneByOne", suite{h: s.h, oneByOne: true}.testCompleteClaim},
		{"FailRetry", s.testFailRetry},
		{"FailDelay", s.testFailDelay},
		{"Defer", s.testDefer},
		{"ParkReady", s.testParkReady},
		{"ParkBubbleUp", s.testParkBubbleUp},
		{"ParkBlocked", s.testParkBlocked},
		{"ParkAbove", s.testParkAbove},
		{"ParkWide", s.testParkWide},
		{"FanInLate", s.testFanInLate},
		{"FanInLateKilled", s.testFanInLateKilled},
		{"ClaimMany", s.testClaimMany},
		{"FanInManyReset", s.testFanInManyReset},
		{"Acquire", s.testAcquire},
		{"AcquireTakeover", s.testAcquireTakeover},
		{"SetState", s.testSetState},
		{"RevokeReadd", s.testRevokeReadd},
		{"Abandoned", s.testAbandoned},
		{"GetAbsent", s.testGetAbsent},
		{"ListCount", s.testListCount},
		{"CountTransitions", s.testCountTransitions},
		{"CountConcurrent", s.testCountConcurrent},
		{"CountHeadAge", s.testCountHeadAge},
		{"Wait", s.testWait},
		{"Namespaces", s.testNamespaces},
		{"BadInput", s.testBadInput},
		{"LeaseOfAbsent", s.testLeaseOfAbsent},
		{"Empty", s.testEmpty},
		{"ProcessesClaimComplete", s.testProcessesClaimComplete},
		{"ProcessesParentsRace", s.testProcessesParentsRace},
		{"ProcessesParkRace", s.testProcessesParkRace},
		{"ProcessesDeadWorker", s.testProcessesDeadWorker},
		{"FanInOnce", s.testFanInOnce},
		{"Unseen", s.testUnseen},
		{"FanInReset", s.testFanInReset},
		{"FanInWide", s.testFanInWide},
		{"FanOutWide", s.testFanOutWide},
		{"BubbleDownKilled", s.testBubbleDownKilled},
		{"ResumeReset", s.testResumeReset},
		{"ProcessesFanIn", s.testProcessesFanIn},
		{"HistoryRetries", s.testHistoryRetries},
		{"HistoryLeases", s.testHistoryLeases},
		{"HistoryRing", s.testHistoryRing},
		{"ReaddWide", s.testReaddWide},
		{"ReaddKilled", s.testReaddKilled},
		{"Limits", s.testLimits},
		{"LimitsBadInput", s.testLimitsBadInput},
		{"LimitsHandover", s.testLimitsHandover},
	}
}

// open makes a fresh namespace and opens one backend on it, closed when the
// test ends. It returns the spec too, to open more instances.
func (s suite) open(t *testing.T) (store.Backend, string) {
	t.Helper()
	spec := s.h.New(t)
	return s.openSpec(t, spec), spec
}

// openSpec opens another backend instance on spec, closed when the test ends.
func (s suite) openSpec(t *testing.T, spec string) store.Backend {
	t.Helper()
	b, err := s.h.open(spec)
	if err != nil {
		t.Fatalf("open %q: %v", spec, err)
	}
	if s.oneByOne {
		b = oneByOne{b} // b checks its arguments already
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close %q: %v", spec, err)
		}
	})
	return b
}

// longCtx is ctx for the cases of 10,000 or 100,000 jobs, which a loaded
// machine can make slow.
func longCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return c
}

// ctx returns a context that ends with the test, with a generous deadline
// so that a hung backend fails the test instead of the whole run.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}
