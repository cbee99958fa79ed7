// Package store defines the job-state and queue backend of stolos: one
// interface at the level of job operations, so that each backend (SQLite,
// ZooKeeper, Redis) makes each transition atomic in its own way.
//
// A backend knows nothing of the dependency graph. Callers compute parents
// and children with lib/graph and pass them in; the backend checks and
// changes the states of all the jobs an operation names in one atomic step
// (a SQLite transaction, a ZooKeeper multi-op with version checks, a Redis
// Lua script). That is what makes bubble-down idempotent and race-free: the
// completion of a parent and the parking of a child can never both miss each
// other.
//
// The job model (DESIGN.md section 4): a job is absent or in one of four
// states. Beside the state it carries whether it is queued (it has a queue
// entry, waiting or claimed), its priority and queue position, its lease
// while claimed, its count of failed attempts, and the text of its last
// outcome. A job has at most one queue entry: queueing a queued job changes
// nothing, so duplicate entries cannot exist.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// State is a job's state. The zero value means the job does not exist.
type State string

// The four states of the original Stolos.
const (
	Absent    State = ""
	Pending   State = "pending"
	Completed State = "completed"
	Failed    State = "failed"
	Skipped   State = "skipped"
)

// States lists the states a job can be in, in display order.
var States = []State{Pending, Completed, Failed, Skipped}

// ParseState returns the state named s, or an error naming s.
func ParseState(s string) (State, error) {
	for _, st := range States {
		if string(st) == s {
			return st, nil
		}
	}
	return Absent, errors.New("unknown state " + strconv.Quote(s) + " (want pending, completed, failed or skipped)")
}

// DefaultPriority is the priority of a job queued without one. Lower runs
// first.
const DefaultPriority = 100

// Ref names one job.
type Ref struct {
	App   string
	JobID string
}

func (r Ref) String() string { return r.App + " " + r.JobID }

// Job is what a backend knows of one job.
type Job struct {
	Ref
	State     State
	Queued    bool      // it has a queue entry (waiting, or claimed)
	Priority  int       // meaningful while queued
	Owner     string    // lease holder while claimed, "" otherwise
	Until     time.Time // lease expiry while claimed
	NotBefore time.Time // queued but not claimable before this (retry delay); zero if claimable
	Attempts  int       // failed attempts since the last success or readd
	Outcome   string    // last outcome: "exit 0", "exit 3", "signal KILL", "lease lost", ...
	// Revoked: the lease (Owner, Until) was revoked by SetState or a
	// readd; its holder is stopping its command. The job is not
	// claimable before the holder releases the lease or Until passes.
	Revoked bool
}

// Claimed reports whether the job is held under a live lease at now.
func (j Job) Claimed(now time.Time) bool { return j.Owner != "" && now.Before(j.Until) }

// Node is a job that an operation may have to create, with what the app's
// valid_if_or said of it: a job created with Skip is created skipped and not
// queued.
type Node struct {
	Ref
	Skip bool
}

// Child is a child job for bubble-down. Parents returns all of its
// parents; a backend calls it only when it must (when it creates or checks
// the child's fan-in record), so that a child with N parents has them
// computed once, not at each of its N parents' completions. It may be
// called more than once; callers memoize it.
type Child struct {
	Node
	Parents func() []Ref
}

// ParentList is a Child's Parents for a list known in advance.
func ParentList(refs ...Ref) func() []Ref { return func() []Ref { return refs } }

// Batch is the number of children one atomic step of a bubble-down
// handles, at most. A completion with more children records the
// completion and an unfinished-bubble-down marker in its first step and
// queues the rest in further steps of Batch children (see
// Backend.Complete).
const Batch = 1000

// stepHookKey is the context key of WithStepHook.
type stepHookKey struct{}

// WithStepHook returns a context under which a backend calls fn between
// two steps of a bubble-down of parent, with the number of its children
// handled so far (done). An error from fn stops the bubble-down there, as
// if the process had died, and the backend returns it. It is for tests.
func WithStepHook(ctx context.Context, fn func(parent Ref, done int) error) context.Context {
	return context.WithValue(ctx, stepHookKey{}, fn)
}

// Step is what a backend calls between two steps of a bubble-down: the
// error of ctx's step hook, if it has one, else nil.
func Step(ctx context.Context, parent Ref, done int) error {
	if fn, ok := ctx.Value(stepHookKey{}).(func(Ref, int) error); ok {
		return fn(parent, done)
	}
	return nil
}

// SubmitItem is one job to queue.
type SubmitItem struct {
	Node
	Priority int
	// Readd re-queues the job in any state and resets its attempt count;
	// a live lease on it is revoked (see Lease). Reset lists its
	// descendants (all of them, from the graph), parents before children
	// (a topological order: the order of the steps of a big readd): those
	// that exist are set to pending, not queued, attempts reset; a claimed
	// one keeps its queue entry, and its lease is revoked.
	//
	// An item whose Reset does not fit one step of Batch jobs is a readd
	// in steps: the first re-queues the job and leaves a readd marker on
	// it, further steps reset Batch descendants each, in order, and the
	// last removes the marker. While the marker is there, the job cannot
	// be completed (ErrResetting). A process that dies between two steps
	// leaves the marker: Unfinished lists it, ResumeReadd finishes it.
	Readd bool
	Reset []Ref
}

// SubmitInSteps is Submit made of atomic steps of at most limit jobs
// (SubmitStep): step submits the items of one step (split: the first step
// of a readd in steps, which resets nothing and leaves the readd marker),
// and readd resets a split item's descendants in steps of its own, from
// the first (done 0). It
// returns the results of the items submitted before an error.
func SubmitInSteps(ctx context.Context, items []SubmitItem, limit int,
	step func(ctx context.Context, items []SubmitItem, split bool) ([]SubmitResult, error),
	readd func(ctx context.Context, job Ref, reset []Ref, done int) error) ([]SubmitResult, error) {
	res := make([]SubmitResult, 0, len(items))
	for len(items) > 0 {
		n, split := SubmitStep(items, limit)
		got, err := step(ctx, items[:n], split)
		if err != nil {
			return res, err
		}
		res = append(res, got...)
		if split {
			if err := readd(ctx, items[0].Ref, items[0].Reset, 0); err != nil {
				return res, fmt.Errorf("submit %v: %w: %w", items[0].Ref, ErrReaddUnfinished, err)
			}
		}
		items = items[n:]
	}
	return res, nil
}

// SubmitStep returns how many of items one atomic step of Submit takes,
// the step holding at most limit jobs (each item, and the descendants a
// readd resets): n whole items; or, when the first item's readd does not
// fit one step by itself, that item alone and split (a readd in steps).
func SubmitStep(items []SubmitItem, limit int) (n int, split bool) {
	refs := 0
	for n < len(items) {
		k := 1
		if items[n].Readd {
			k += len(items[n].Reset)
		}
		switch {
		case k > limit && n == 0:
			return 1, true
		case refs+k > limit && n > 0:
			return n, false
		}
		refs += k
		n++
	}
	return n, false
}

// Marker is an unfinished multi-step operation on a job, left by a
// process that died between two steps: the bubble-down of a completed
// job, or (Readd) the reset of the descendants of a readded job.
type Marker struct {
	Ref
	Readd bool
}

// SubmitResult says what Submit did with one item.
type SubmitResult int

const (
	Created        SubmitResult = iota // a new job, pending and queued
	CreatedSkipped                     // a new job, skipped by valid_if_or
	Exists                             // not a readd, and the job exists: left alone
	Requeued                           // readd: the job was pending and queued again (or skipped, by valid_if_or)
	AlreadyQueued                      // readd of a job that is queued: not queued twice (descendants still reset)
)

// Lease is a claim on one job. Every change that depends on holding the job
// (Renew, Release, Complete with a lease, Fail, Defer, Park) names the lease's Token
// and fails with ErrLeaseLost when the lease expired or was taken over, or
// its job does not exist: that is how a worker that lost its lease is
// fenced off.
//
// A lease is revoked when an operator changes its job (SetState, a readd
// of the job or of an ancestor) while a worker's command may run under it.
// A revoked lease is lost to its holder (Held, Renew, Complete, Fail and
// Park fail with ErrLeaseLost), but the store keeps its owner and expiry:
// Claim and Acquire do not take the job before the holder Releases the
// lease (which it does once its command is dead) or the lease would have
// ended, so a job never runs twice at once because of an operator.
// Transferable leases (stolos-claim's, under which nothing runs) are not
// revoked: SetState to failed or skipped drops them, and a readd leaves
// them (the stolos-exec that takes one over sees the job's new state).
//
// A lease that ends without an outcome (it expired: no Complete, Fail,
// Park or Release) and that was neither transferable nor revoked is an
// abandoned attempt: its worker died or lost touch. The Claim or Acquire
// that next takes the job counts it as a failed attempt, with the outcome
// AbandonedOutcome(owner), and a Claim fails the job instead when that
// count reaches ClaimRequest.MaxRetry.
type Lease struct {
	Ref
	Token    string
	Owner    string
	Until    time.Time
	Priority int
	Attempts int // failed attempts so far, before this one
	// Parents holds the job's parents as the claim read them, in the
	// order ClaimRequest.Parents gave, when the claim was asked to and
	// the backend reads them with the claim; nil otherwise.
	Parents []Job
	// Sent is when the request that took the lease was sent, by the
	// taker's clock (with its monotonic reading): the lease lasts its
	// length from no earlier than then, however late the answer came.
	// Backends leave it zero; sched's claims set it, and so must the
	// caller of Acquire that counts the lease (stolos-exec).
	Sent time.Time
	// Seq is the number of the attempt this lease is for (see Attempt):
	// each lease taken to run the job (Acquire, a Claim that is not
	// Transferable) takes the job's next number. Zero for a transferable
	// lease, under which nothing runs.
	Seq int64
	// Log is where the attempt's output goes ("HOST:PATH"), set by the
	// holder when it starts the command; Complete and Fail keep it in the
	// attempt's record. Release records an attempt only when Log is set
	// (a command ran): a lease given back before that records nothing.
	Log string
}

// Attempt is the record of one attempt of a job: what ran under one lease
// taken to run it, and how it ended. Attempts are recorded in the same
// atomic step as their outcome (Complete and Fail with a lease, Release
// of a lease a command ran under, the Claim or Acquire that finds a lease
// abandoned); Seq numbers them per job from 1 and is never reset (not by
// a readd, nor by SetState), so a record never names another attempt's
// log. A backend keeps the last Keep of each job (DefaultKeep unless
// configured): the record of attempt Seq goes in slot Seq mod Keep of a
// ring, overwriting the one that held it.
type Attempt struct {
	Ref
	Seq     int64
	Start   time.Time // when its lease was taken (the backend's clock)
	End     time.Time // when its outcome was recorded; an abandoned one's: its lease's end
	Worker  string    // the lease's owner: stolos-exec@HOST:PID
	Outcome string    // exit 0, exit 3, signal KILL, abandoned: worker OWNER lost, ...
	Log     string    // where its output went (HOST:PATH), "" if unknown
}

// DefaultKeep is how many attempts of each job a backend keeps when not
// told otherwise.
const DefaultKeep = 10

// Keep is the retention a backend opened with the option keep uses:
// DefaultKeep for zero, keep itself when positive, an error when negative.
func Keep(keep int) (int, error) {
	switch {
	case keep < 0:
		return 0, fmt.Errorf("history retention %d is negative", keep)
	case keep == 0:
		return DefaultKeep, nil
	}
	return keep, nil
}

// ReleasedOutcome is the outcome recorded for an attempt whose lease was
// given back with Release after its command started (Lease.Log is set):
// interrupted (SIGINT, SIGTERM), or stopped because an operator revoked
// the lease.
func ReleasedOutcome(revoked bool) string {
	if revoked {
		return "revoked: stopped by an operator"
	}
	return "released: interrupted"
}

// Slot is the ring slot of attempt seq when keep attempts are kept.
func Slot(seq int64, keep int) int64 { return seq % int64(keep) }

// ClaimRequest asks for up to N runnable jobs of one app, or of one of
// several (Apps).
type ClaimRequest struct {
	App   string
	Owner string // who holds the leases: "host:pid" or similar, shown by stolos-state
	N     int
	Lease time.Duration
	// Transferable marks leases taken by stolos-claim, which hands the job
	// ids on (to xargs stolos-exec, say): Acquire may take such a lease over.
	Transferable bool
	// Parents, if set, gives the parents of a job. A backend that can
	// read them in the same step as the claim (no extra round trip) does,
	// and returns them in Lease.Parents. The reads are for the caller's
	// information only: the claim does not depend on them.
	Parents func(Ref) []Ref
	// MaxRetry, if positive, is the app's max_retry: a job whose
	// abandoned attempt (see Lease) brings its failed attempts to
	// MaxRetry is failed and left out of the claim. Zero: abandoned
	// attempts are counted, and the jobs are claimed whatever the count.
	MaxRetry int
	// Limits, if any, cap the jobs of the app and of others that run at
	// once (see Limit): the claim takes no more than they have room
	// for, checked in the same atomic step.
	Limits []Limit
	// Apps, if set, makes the request a claim across apps (a worker over
	// several: sched.ClaimAny), and App, MaxRetry and Limits are each
	// app's (AppClaim; the request's own are empty). The claim takes its
	// jobs from one app: of the apps whose queue has a head (Heads), the
	// one of the best priority, ties going to the earlier in Apps; if that
	// app's claim takes nothing (a stale head, a full limit), the next in
	// that order, and so on (ClaimInOrder). Local and Redis read the heads
	// and claim in the one atomic step of the claim (and of the completion
	// that CompleteClaim records first, so the children it queues compete
	// in this claim); ZooKeeper, where a step cannot choose among queues,
	// takes the heads from the listings it keeps under watches, a hint,
	// before the step (the children compete from the next claim). The
	// result is the claim of the app that took a job or failed one
	// (ClaimResult.Leases and Failed name it), with the earliest Next and
	// the first Limited of the apps tried.
	Apps []AppClaim
}

// AppClaim is what a claim across apps (ClaimRequest.Apps) takes of each
// app: its name, and its ClaimRequest.MaxRetry and Limits.
type AppClaim struct {
	App      string
	MaxRetry int
	Limits   []Limit
}

// For returns the claim of the app Apps[i] that req stands for.
func (req ClaimRequest) For(i int) ClaimRequest {
	a := req.Apps[i]
	req.App, req.MaxRetry, req.Limits, req.Apps = a.App, a.MaxRetry, a.Limits, nil
	return req
}

// Name names what req claims from, for messages: its app, or its apps
// (Apps) joined by commas.
func (req ClaimRequest) Name() string {
	if len(req.Apps) == 0 {
		return req.App
	}
	names := make([]string, len(req.Apps))
	for i, a := range req.Apps {
		names[i] = a.App
	}
	return strings.Join(names, ",")
}

// ClaimResult holds the leases taken, in queue order (priority, then
// oldest first), and when a queue entry that was not claimable now (retry
// delay, live lease) may become claimable: the zero time if none.
// Failed lists the jobs the claim failed because their abandoned attempts
// reached ClaimRequest.MaxRetry, as they are now.
type ClaimResult struct {
	Leases []Lease
	Next   time.Time
	Failed []Job
	// Limited names the limit of the request (Limit.Name) that had no
	// room when the claim took fewer jobs than asked, "" if none did.
	// No change of the app's queue says when it has room again.
	Limited string
}

// AbandonedOutcome is the outcome recorded for an abandoned attempt of the
// worker owner.
func AbandonedOutcome(owner string) string { return abandonedPrefix + owner + abandonedSuffix }

const abandonedPrefix, abandonedSuffix = "abandoned: worker ", " lost"

// RevokedToken is how a backend stores the token of a revoked lease: it
// no longer matches the holder's token, so every fenced change fails, and
// Release still recognizes it (IsRevokedOf).
func RevokedToken(token string) string { return "!" + token }

// IsRevoked reports whether a stored token is a revoked lease's.
func IsRevoked(stored string) bool { return len(stored) > 0 && stored[0] == '!' }

// IsRevokedOf reports whether stored is token, revoked.
func IsRevokedOf(stored, token string) bool {
	return token != "" && IsRevoked(stored) && stored[1:] == token
}

// ParkResult says what Park did.
type ParkResult struct {
	// Ready: every parent is completed. The lease is kept; run the job.
	Ready bool
	// Parents holds the parents' jobs as Park saw them (for reporting the
	// one that holds the child back). When not Ready, the child was taken
	// off its queue and its lease released: it stays pending and the
	// completion of its last parent queues it again.
	Parents []Job
}

// Counts are the numbers of an app's jobs by state, plus those queued and
// those claimed, and how long the head of its queue has waited.
type Counts struct {
	States  map[State]int
	Queued  int
	Claimed int
	// HeadAge is how long the entry at the head of the app's queue of
	// waiting entries (the first that a claim takes, of the entries
	// neither claimed nor delayed) has been queued, by the backend's
	// clock (a retried job's, since its retry was queued). Zero when no
	// entry waits, and for an entry queued by a stolos that did not
	// record when. An entry whose lease or retry delay ran out may not
	// count before a claim puts it back in line (local, Redis).
	HeadAge time.Duration
}

// Errors every backend returns (wrapped) for the same causes.
var (
	ErrLeaseLost  = errors.New("lease lost")
	ErrNotFound   = errors.New("no such job")
	ErrHeld       = errors.New("job is claimed by another worker")
	ErrNotPending = errors.New("job is not pending")
	// ErrUnfinished: the job was completed, but a later step of its
	// bubble-down failed; its marker stays, and the next worker finishes
	// it (Unfinished, Resume).
	ErrUnfinished = errors.New("completed, but not all children handled yet (the next worker will)")
	// ErrReaddUnfinished: the job was queued again, but a later step of
	// its readd failed; its marker stays, and the next worker finishes
	// it (Unfinished, ResumeReadd).
	ErrReaddUnfinished = errors.New("queued again, but not all descendants reset yet (the next worker will)")
	// ErrResetting: the job cannot be completed while its readd is
	// unfinished (see SubmitItem); ResumeReadd finishes the readd.
	ErrResetting = errors.New("its readd has not reset all its descendants yet")
	// ErrDataLost: the backend's data vanished while the process used it
	// (a server restarted without persistence, or flushed). Retrying does
	// not help.
	ErrDataLost = errors.New("job state lost")
)

// Backend stores job state and per-app queues. Every method is atomic with
// respect to every other, across processes and machines; all are safe for
// concurrent use. Times are the backend's own clock where it has one.
type Backend interface {
	// Submit queues jobs, in atomic steps of at most Batch jobs
	// (SubmitStep; callers batch). A new job is created pending and
	// queued, or skipped if its Node says Skip. An existing job is left
	// alone unless Readd (see SubmitItem). When a step after the first of
	// a readd in steps fails, Submit returns the results so far, the
	// readd's included, and an error wrapping ErrReaddUnfinished. The step
	// hook (WithStepHook) is called between two steps of a readd, with
	// the job and the number of its descendants reset so far. No items is no
	// results.
	Submit(ctx context.Context, items []SubmitItem) ([]SubmitResult, error)

	// Claim takes up to N claimable jobs of an app off its queue, in order of
	// priority then queue position, under leases. A queue entry whose job
	// is not pending is removed, never handed out. A claimed job stays
	// queued (its entry is the lease) until Complete, Fail or Park removes
	// it; if its lease expires, it is claimable again.
	Claim(ctx context.Context, req ClaimRequest) (ClaimResult, error)

	// Acquire takes a lease on one named job to run it now (stolos-exec
	// JOB_ID): a job that is absent is created pending, not queued. It fails
	// with ErrNotPending for a job in another state, and with ErrHeld while
	// another worker's live lease is on it (a transferable lease from
	// stolos-claim is taken over).
	Acquire(ctx context.Context, ref Ref, owner string, lease time.Duration) (Lease, error)

	// Renew extends a lease to now+d.
	Renew(ctx context.Context, l Lease, d time.Duration) (Lease, error)

	// Release gives a lease back without an outcome: the job stays pending,
	// and claimable at once if it is queued. Releasing a revoked lease
	// (its holder's command is dead) ends it: the job becomes claimable
	// as SetState or the readd left it.
	Release(ctx context.Context, l Lease) error

	// Held reads whether l is still held: nil if so, ErrLeaseLost if it
	// expired, was revoked or taken over. It changes nothing (a cheap
	// read), so that a worker can poll it to learn of a revocation soon.
	Held(ctx context.Context, l Lease) error

	// Complete marks a job completed, removes its queue entry and lease, and
	// resets its attempt count, and then queues each child all of whose
	// parents are now completed (creating it if absent; skipped if its
	// Node says so) unless the child is already queued or not pending.
	// With a zero Token (stolos-state -set completed) it fails with
	// ErrHeld while a worker's command may run: the job has a live lease,
	// revoked or not, that is not transferable (a transferable one is
	// dropped); otherwise the lease must be held. Children are queued with
	// the completed job's priority.
	//
	// The cost per child does not grow with the child's number of parents
	// (amortized): each child has a fan-in record, the set of its parents
	// seen completed and the number still missing, and a child is queued
	// when that number reaches zero (checked against the parents' states
	// before it is queued). The first step records the completion with up
	// to Batch children; with more children it also leaves a marker that
	// further steps of Batch children advance and the last removes. A
	// process that dies between two steps leaves the marker: Unfinished
	// lists it and Resume finishes it. The completion is recorded once the
	// first step is: a later step's error wraps ErrUnfinished. A job with
	// an unfinished readd (see SubmitItem) is not completed: ErrResetting.
	Complete(ctx context.Context, l Lease, outcome string, children []Child) error

	// Unfinished lists up to n markers of operations left unfinished (their
	// process died between two steps) that have not advanced for idle: the
	// bubble-downs of completed jobs (Resume finishes them) and the readds
	// in steps (ResumeReadd).
	Unfinished(ctx context.Context, idle time.Duration, n int) ([]Marker, error)

	// Resume finishes the bubble-down of parent from where its marker says,
	// given its children (as Complete takes them). Without a marker it does
	// nothing; a marker of a job no longer completed is removed.
	Resume(ctx context.Context, parent Ref, children []Child) error

	// ResumeReadd finishes the readd in steps of job from where its
	// marker says, given its descendants (as SubmitItem.Reset takes
	// them). Without a readd marker it does nothing.
	ResumeReadd(ctx context.Context, job Ref, reset []Ref) error

	// Fail records a failed attempt: the attempt count goes up by one and,
	// if it reaches maxRetry, the job is failed and leaves its queue;
	// otherwise it is queued again at the back, claimable after delay.
	// It reports whether the failure was final.
	Fail(ctx context.Context, l Lease, outcome string, maxRetry int, delay time.Duration) (final bool, err error)

	// Defer puts a claimed job back on its queue, at the back, claimable
	// after delay, with outcome as its last outcome, and ends the lease:
	// its readiness check (the app's ready_cmd) said "not yet". Nothing
	// ran, so no attempt is counted or recorded, and the lease's attempt
	// number is given back, as Park does. It fails with ErrLeaseLost as
	// Fail does.
	Defer(ctx context.Context, l Lease, outcome string, delay time.Duration) error

	// Park is bubble-up. It checks the parents of a claimed job; if all are
	// completed the job is Ready. Otherwise, in the same atomic step, it
	// creates the jobs of above that are absent (pending and queued, or
	// skipped), queues those that are pending and neither queued nor
	// claimed, and takes the child off its queue, releasing the lease.
	// above is what the caller found to run first: the child's missing
	// ancestors that are runnable (sched walks up to them), or simply its
	// parents.
	Park(ctx context.Context, l Lease, parents []Ref, above []Node) (ParkResult, error)

	// SetState sets the state of existing jobs, outside the lease protocol
	// (stolos-state -set). A live lease is revoked (see Lease). Pending
	// leaves the queue entry as it is; failed and skipped remove it.
	// (Completed goes through Complete, for bubble-down.) ErrNotFound for
	// an absent job.
	SetState(ctx context.Context, ref Ref, st State, outcome string) error

	// Heads reads the head of each app's queue (a Head per app, in order),
	// in one round trip where the backend can, changing nothing: what a
	// worker over several apps needs to claim by priority across them
	// (sched.ClaimAny). Unknown apps have an empty queue.
	Heads(ctx context.Context, apps []string) ([]Head, error)

	// Get reads jobs; an absent one comes back with State Absent.
	Get(ctx context.Context, refs []Ref) ([]Job, error)

	// List calls fn for every job of an app (of one state, unless st is
	// Absent), streaming; order is unspecified. An error from fn stops it.
	List(ctx context.Context, app string, st State, fn func(Job) error) error

	// Count counts an app's jobs. An app that never had a job has zero
	// counts (and no jobs to list, nothing to claim).
	Count(ctx context.Context, app string) (Counts, error)

	// Wait blocks until the app's queue may have changed (a watch, a
	// blocking read), or until (a zero until is no deadline; one passed
	// returns at once), or ctx ends. It may return early; callers loop. It never busy-polls, and it never misses work: it returns at
	// once if the app got claimable work after this instance's last Claim
	// or Wait of that app.
	Wait(ctx context.Context, app string, until time.Time) error

	// History reads the recorded attempts of jobs (at most the last Keep
	// of each), oldest first: one list per ref, empty for a job with none.
	History(ctx context.Context, refs []Ref) ([][]Attempt, error)

	// AppHistory calls fn for every recorded attempt of an app that ended
	// in [since, until) (a zero until: no end), streaming: in order of
	// End where the backend indexes it (local, Redis), in no particular
	// order on ZooKeeper, which scans the app's jobs. An error from fn
	// stops it.
	AppHistory(ctx context.Context, app string, since, until time.Time, fn func(Attempt) error) error

	// Close releases connections (and, in ZooKeeper, the session).
	Close() error
}

// CompleteClaimer is a Backend that can complete a job and claim the next
// in one transaction or round trip: a worker's step from one job to the
// next. Backends implement it where that saves a round trip; callers go
// through CompleteClaim, which falls back to Complete and then Claim.
type CompleteClaimer interface {
	// CompleteClaim is Complete of l and then Claim of req. done is the
	// completion's error (nil: recorded), as Complete would return it;
	// err is the claim's, and res what it took. The claim is made
	// whatever became of the completion; a failure of the backend itself
	// may fail both, and then both say so.
	CompleteClaim(ctx context.Context, l Lease, outcome string, children []Child, req ClaimRequest) (res ClaimResult, done, err error)
}

// CompleteClaim is Complete of l and then Claim of req on b: in one step
// if b is a CompleteClaimer, else one call after the other (see
// CompleteClaimer for what it returns).
func CompleteClaim(ctx context.Context, b Backend, l Lease, outcome string, children []Child, req ClaimRequest) (res ClaimResult, done, err error) {
	if cc, ok := b.(CompleteClaimer); ok {
		return cc.CompleteClaim(ctx, l, outcome, children, req)
	}
	done = b.Complete(ctx, l, outcome, children)
	res, err = b.Claim(ctx, req)
	return res, done, err
}
