package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stolos-sched/stolos/lib/store"
)

// Submit queues jobs (see store.Backend), one write transaction per step
// of store.Batch jobs.
func (b *Backend) Submit(ctx context.Context, items []store.SubmitItem) ([]store.SubmitResult, error) {
	return store.SubmitInSteps(ctx, items, store.Batch, b.submit, b.readdSteps)
}

// submit queues the items of one step in one write transaction.
func (b *Backend) submit(ctx context.Context, step []store.SubmitItem, split bool) ([]store.SubmitResult, error) {
	got := make([]store.SubmitResult, len(step))
	err := b.write(ctx, func(tx *txn) error {
		for i, it := range step {
			var err error
			if got[i], err = tx.submit(it, split); err != nil {
				return fmt.Errorf("submit %v: %w", it.Ref, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return got, nil
}

// submit queues one item in tx. A split item (a readd in steps) resets
// no descendant here: it leaves its readd marker for readdSteps.
func (tx *txn) submit(it store.SubmitItem, split bool) (store.SubmitResult, error) {
	r, found, err := tx.load(it.Ref)
	if err != nil {
		return 0, err
	}
	var res store.SubmitResult
	switch {
	case !found:
		if res, err = tx.create(&r, it.Node, it.Priority); err != nil {
			return 0, err
		}
	case !it.Readd:
		return store.Exists, nil
	default:
		if res, err = tx.readd(&r, it); err != nil {
			return 0, err
		}
	}
	if err := tx.save(&r); err != nil {
		return 0, err
	}
	switch {
	case split:
		err := tx.exec("INSERT INTO bubbles (app, job_id, done, at, readd) VALUES (?, ?, 0, ?, 1) "+
			"ON CONFLICT (app, job_id) DO UPDATE SET done = 0, at = excluded.at, readd = 1",
			it.App, it.JobID, tx.now)
		if err != nil {
			return 0, err
		}
	case it.Readd:
		if err := tx.resets(it.Ref, it.Reset); err != nil {
			return 0, err
		}
	}
	return res, nil
}

// resets resets the descendants reset of a readded job.
func (tx *txn) resets(job store.Ref, reset []store.Ref) error {
	for _, d := range reset {
		if d != job {
			if err := tx.reset(d); err != nil {
				return fmt.Errorf("reset %v: %w", d, err)
			}
		}
	}
	return nil
}

// readdSteps resets the descendants of job, store.Batch per step, from
// where its readd marker says, as the marker says: the last step removes
// it. done is how many the caller knows are reset; with done < 0
// (ResumeReadd) it makes at least one step, which does nothing without a
// readd marker.
func (b *Backend) readdSteps(ctx context.Context, job store.Ref, reset []store.Ref, done int) error {
	for first := done < 0; first || done < len(reset); first = false {
		next := done
		err := store.Step(ctx, job, max(done, 0))
		if err == nil {
			err = b.write(ctx, func(tx *txn) error {
				from, readd, found, err := tx.marker(job)
				if err != nil {
					return err
				}
				if !found || !readd {
					next = len(reset) // finished by another process
					return nil
				}
				to := min(len(reset), from+store.Batch)
				if err := tx.resets(job, reset[min(from, to):to]); err != nil {
					return err
				}
				next = to
				if to == len(reset) {
					return tx.exec("DELETE FROM bubbles WHERE app = ? AND job_id = ?", job.App, job.JobID)
				}
				return tx.exec("UPDATE bubbles SET done = ?, at = ? WHERE app = ? AND job_id = ?", to, tx.now, job.App, job.JobID)
			})
		}
		if err != nil {
			return fmt.Errorf("descendants from %d of %d: %w", max(done, 0), len(reset), err)
		}
		done = next
	}
	return nil
}

// marker reads the marker of a job: how far it got, and whether it is a
// readd's (else a bubble-down's).
func (tx *txn) marker(job store.Ref) (done int, readd, found bool, err error) {
	s, err := tx.stmt("SELECT done, readd FROM bubbles WHERE app = ? AND job_id = ?")
	if err != nil {
		return 0, false, false, err
	}
	switch err := s.QueryRowContext(tx.ctx, job.App, job.JobID).Scan(&done, &readd); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, false, nil
	case err != nil:
		return 0, false, false, err
	}
	return done, readd, true, nil
}

// ResumeReadd finishes a readd in steps (see store.Backend).
func (b *Backend) ResumeReadd(ctx context.Context, job store.Ref, reset []store.Ref) error {
	if err := b.readdSteps(ctx, job, reset, -1); err != nil {
		return fmt.Errorf("resume readd of %v: %w", job, err)
	}
	return nil
}

// readd queues an existing job again (see store.SubmitItem), revoking a
// live lease on it. The caller saves it.
func (tx *txn) readd(r *row, it store.SubmitItem) (store.SubmitResult, error) {
	revoke(r, tx.now)
	r.attempts = 0
	switch {
	case r.queued && r.state == store.Pending:
		return store.AlreadyQueued, nil
	case it.Skip:
		dequeue(r)
		r.state = store.Skipped
	default:
		dequeue(r)
		r.state = store.Pending
		if err := tx.enqueue(r, it.Priority); err != nil {
			return 0, err
		}
	}
	return store.Requeued, nil
}

// create makes an absent job: pending and queued with prio, or skipped.
// The caller saves it.
func (tx *txn) create(r *row, n store.Node, prio int) (store.SubmitResult, error) {
	if n.Skip {
		*r = newRow(n.Ref, store.Skipped)
		return store.CreatedSkipped, nil
	}
	*r = newRow(n.Ref, store.Pending)
	return store.Created, tx.enqueue(r, prio)
}

// reset sets an existing descendant of a readded job pending, without a
// queue entry unless it is claimed, with no failed attempts.
func (tx *txn) reset(ref store.Ref) error {
	r, found, err := tx.load(ref)
	if err != nil || !found {
		return err
	}
	if !r.leased(tx.now) {
		dequeue(&r)
	}
	revoke(&r, tx.now)
	r.state, r.attempts = store.Pending, 0
	return tx.save(&r)
}

// Claim takes up to N claimable jobs of an app (see store.Backend).
func (b *Backend) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	var res store.ClaimResult
	err := b.write(ctx, func(tx *txn) error {
		var err error
		res, err = tx.claim(req)
		return err
	})
	if err != nil {
		return store.ClaimResult{}, fmt.Errorf("claim %s: %w", req.Name(), err)
	}
	return res, nil
}

// claim takes up to req.N claimable jobs, and notes the app's queue
// generation for Wait once the transaction commits.
func (tx *txn) claim(req store.ClaimRequest) (store.ClaimResult, error) {
	if len(req.Apps) > 0 {
		return tx.claimApps(req)
	}
	var res store.ClaimResult
	apps, of := limitApps(req.Limits)
	next, gen, per, err := tx.waiting(req.App, apps)
	if err != nil {
		return res, err
	}
	if next != nil && *next <= tx.now {
		// Entries whose lease or retry delay has passed become claimable.
		err := tx.exec("UPDATE jobs SET wake = 0, not_before = 0 WHERE app = ? AND queued = 1 AND wake > 0 AND wake <= ?",
			req.App, tx.now)
		if err != nil {
			return res, err
		}
		if next, _, _, err = tx.waiting(req.App, nil); err != nil {
			return res, err
		}
	}
	if next != nil {
		res.Next = time.Unix(0, *next)
	}
	tx.seen = append(tx.seen, appGen{req.App, gen})
	want, by := room(req.Limits, of, per, req.N)
	for {
		if len(res.Leases) >= want {
			if by != "" {
				// Held back by a limit if a job is left to claim.
				rows, err := tx.candidates(req.App, 1)
				if err != nil {
					return res, err
				}
				if len(rows) > 0 {
					res.Limited = by
				}
			}
			return res, nil
		}
		rows, err := tx.candidates(req.App, want-len(res.Leases))
		if err != nil || len(rows) == 0 {
			return res, err
		}
		for i := range rows {
			r := &rows[i]
			if r.state != store.Pending {
				// A stale entry: consumed, never handed out.
				dequeue(r)
				clearLease(r)
			} else if ab, err := tx.abandoned(r); err != nil {
				return res, err
			} else if ab && req.MaxRetry > 0 && r.attempts >= req.MaxRetry {
				dequeue(r)
				clearLease(r)
				r.state = store.Failed
				res.Failed = append(res.Failed, r.job(tx.now))
			} else {
				l, err := tx.lease(r, req.Owner, req.Lease, req.Transferable)
				if err != nil {
					return res, err
				}
				if req.Parents != nil {
					if l.Parents, err = tx.jobs(req.Parents(r.Ref)); err != nil {
						return res, err
					}
				}
				res.Leases = append(res.Leases, l)
			}
			if err := tx.save(r); err != nil {
				return res, err
			}
		}
	}
}

// candidates reads the first n claimable entries of an app.
func (tx *txn) candidates(app string, n int) ([]row, error) {
	s, err := tx.stmt("SELECT " + rowCols + " FROM jobs WHERE app = ? AND queued = 1 AND wake = 0 ORDER BY priority, seq LIMIT ?")
	if err != nil {
		return nil, err
	}
	rs, err := s.QueryContext(tx.ctx, app, n)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := r.scan(rs); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// jobs reads jobs as Get does, in tx.
func (tx *txn) jobs(refs []store.Ref) ([]store.Job, error) {
	out := make([]store.Job, len(refs))
	for i, ref := range refs {
		r, found, err := tx.load(ref)
		if err != nil {
			return nil, err
		}
		if found {
			out[i] = r.job(tx.now)
		} else {
			out[i] = store.Job{Ref: ref}
		}
	}
	return out, nil
}

// waiting reads when the app's first waiting entry (a live lease, a retry
// delay) wakes, nil if none, its queue generation, and the live leases of
// each of apps (the apps of a claim's limits), in one statement.
func (tx *txn) waiting(app string, apps []string) (*int64, int64, []int, error) {
	s, err := tx.stmt(tx.b.waitingQuery(len(apps)))
	if err != nil {
		return nil, 0, nil, err
	}
	var next *int64
	var gen int64
	per := make([]int, len(apps))
	args := []any{app}
	if len(apps) > 0 {
		args = append(args, tx.now)
	}
	dst := []any{&next, &gen}
	for i, a := range apps {
		args = append(args, a)
		dst = append(dst, &per[i])
	}
	err = s.QueryRowContext(tx.ctx, args...).Scan(dst...)
	return next, gen, per, err
}

// Acquire takes a lease on one named job (see store.Backend).
func (b *Backend) Acquire(ctx context.Context, ref store.Ref, owner string, d time.Duration) (store.Lease, error) {
	var l store.Lease
	err := b.write(ctx, func(tx *txn) error {
		r, found, err := tx.load(ref)
		switch {
		case err != nil:
			return err
		case !found:
			r = newRow(ref, store.Pending)
		case r.state != store.Pending:
			return fmt.Errorf("%w (it is %s)", store.ErrNotPending, r.state)
		case r.leased(tx.now) && !r.transferable:
			return fmt.Errorf("%w (%s, until %s)", store.ErrHeld, r.owner, time.Unix(0, r.until).Format(time.RFC3339))
		default:
			if _, err := tx.abandoned(&r); err != nil {
				return err
			}
		}
		if l, err = tx.lease(&r, owner, d, false); err != nil {
			return err
		}
		return tx.save(&r)
	})
	if err != nil {
		return store.Lease{}, fmt.Errorf("acquire %v: %w", ref, err)
	}
	return l, nil
}

// Renew extends a lease (see store.Backend).
func (b *Backend) Renew(ctx context.Context, l store.Lease, d time.Duration) (store.Lease, error) {
	err := b.write(ctx, func(tx *txn) error {
		r, err := tx.held(l)
		if err != nil {
			return err
		}
		r.until = tx.now + int64(d)
		l.Until = time.Unix(0, r.until)
		return tx.save(&r)
	})
	if err != nil {
		return store.Lease{}, fmt.Errorf("renew %v: %w", l.Ref, err)
	}
	return l, nil
}

// Release gives a lease back (see store.Backend).
func (b *Backend) Release(ctx context.Context, l store.Lease) error {
	err := b.write(ctx, func(tx *txn) error {
		r, err := tx.held(l)
		if errors.Is(err, store.ErrLeaseLost) && store.IsRevokedOf(r.token, l.Token) {
			err = nil // its holder's command is dead: the revocation ends
		}
		if err != nil {
			return err
		}
		if l.Log != "" {
			if err := tx.record(&r, l.Seq, tx.now, store.ReleasedOutcome(store.IsRevoked(r.token)), l.Log); err != nil {
				return err
			}
		}
		clearLease(&r)
		if r.queued {
			r.notBefore = 0
			tx.touched[r.App] = true
		}
		return tx.save(&r)
	})
	if err != nil {
		return fmt.Errorf("release %v: %w", l.Ref, err)
	}
	return nil
}

// Complete marks a job completed and queues its ready children (see
// store.Backend).
func (b *Backend) Complete(ctx context.Context, l store.Lease, outcome string, children []store.Child) error {
	var done int
	err := b.write(ctx, func(tx *txn) (err error) {
		done, err = tx.complete(l, outcome, children)
		return err
	})
	if err == nil {
		err = b.finished(ctx, l.Ref, children, done)
	}
	if err != nil {
		return fmt.Errorf("complete %v: %w", l.Ref, err)
	}
	return nil
}

// finished finishes a bubble-down whose first step was recorded, and
// says so if it fails.
func (b *Backend) finished(ctx context.Context, parent store.Ref, children []store.Child, done int) error {
	if err := b.finish(ctx, parent, children, done); err != nil {
		return fmt.Errorf("%w: children from %d of %d: %w", store.ErrUnfinished, done, len(children), err)
	}
	return nil
}

// complete is Complete's first step in tx. Its errors of the job's state
// (lease lost, not found) come before it writes anything. It returns the
// number of children it handled.
func (tx *txn) complete(l store.Lease, outcome string, children []store.Child) (int, error) {
	var r row
	var err error
	if l.Token == "" {
		var found bool
		if r, found, err = tx.load(l.Ref); err != nil {
			return 0, err
		} else if !found {
			return 0, store.ErrNotFound
		} else if r.leased(tx.now) && !r.transferable {
			return 0, fmt.Errorf("%w (%s, until %s)", store.ErrHeld, r.owner, time.Unix(0, r.until).Format(time.RFC3339))
		}
	} else if r, err = tx.held(l); err != nil {
		return 0, err
	}
	if _, readd, _, err := tx.marker(l.Ref); err != nil {
		return 0, err
	} else if readd {
		return 0, store.ErrResetting
	}
	// The attempt is recorded with the completion, not before a refusal.
	if err := tx.record(&r, l.Seq, tx.now, outcome, l.Log); err != nil {
		return 0, err
	}
	dequeue(&r)
	clearLease(&r)
	r.state, r.attempts, r.outcome = store.Completed, 0, outcome
	if err := tx.save(&r); err != nil {
		return 0, err
	}
	return tx.bubble(l.Ref, r.priority, children, 0)
}

// CompleteClaim is Complete's first step and then Claim in one
// transaction (see store.Backend).
func (b *Backend) CompleteClaim(ctx context.Context, l store.Lease, outcome string, children []store.Child, req store.ClaimRequest) (store.ClaimResult, error, error) {
	var res store.ClaimResult
	var done error
	var n int
	err := b.write(ctx, func(tx *txn) error {
		n, done = tx.complete(l, outcome, children)
		if done != nil && !errors.Is(done, store.ErrLeaseLost) && !errors.Is(done, store.ErrNotFound) && !errors.Is(done, store.ErrResetting) {
			return done
		}
		var err error
		res, err = tx.claim(req)
		return err
	})
	switch {
	case err != nil && done == nil:
		err = fmt.Errorf("complete %v and claim %s: %w", l.Ref, req.Name(), err)
		return store.ClaimResult{}, err, err
	case err != nil:
		err = fmt.Errorf("complete %v: %w", l.Ref, err)
		return store.ClaimResult{}, err, err
	case done != nil:
		done = fmt.Errorf("complete %v: %w", l.Ref, done)
	default:
		if done = b.finished(ctx, l.Ref, children, n); done != nil {
			done = fmt.Errorf("complete %v: %w", l.Ref, done)
		}
	}
	return res, done, nil
}

// Fail records a failed attempt (see store.Backend).
func (b *Backend) Fail(ctx context.Context, l store.Lease, outcome string, maxRetry int, delay time.Duration) (bool, error) {
	var final bool
	err := b.write(ctx, func(tx *txn) error {
		r, err := tx.held(l)
		if err != nil {
			return err
		}
		if err := tx.record(&r, l.Seq, tx.now, outcome, l.Log); err != nil {
			return err
		}
		clearLease(&r)
		dequeue(&r)
		r.attempts++
		r.outcome = outcome
		final = r.attempts >= maxRetry
		if final {
			r.state = store.Failed
			return tx.save(&r)
		}
		return tx.requeue(&r, delay)
	})
	if err != nil {
		return false, fmt.Errorf("fail %v: %w", l.Ref, err)
	}
	return final, nil
}

// Park is bubble-up: see store.Backend. A child with more parents and
// ancestors above than store.Batch is parked in steps
// (store.ParkInSteps), so that no write transaction holds the file long.
func (b *Backend) Park(ctx context.Context, l store.Lease, parents []store.Ref, above []store.Node) (store.ParkResult, error) {
	if len(parents)+len(above) > store.Batch {
		return store.ParkInSteps(ctx, b, l, parents, above)
	}
	return b.ParkStep(ctx, l, parents, above)
}

// ParkStep is Park in one transaction (store.ParkStepper).
func (b *Backend) ParkStep(ctx context.Context, l store.Lease, parents []store.Ref, above []store.Node) (store.ParkResult, error) {
	return b.park(ctx, l, parents, above, false)
}

// QueueAbove queues nodes as Park does above, in one transaction
// (store.ParkStepper).
func (b *Backend) QueueAbove(ctx context.Context, l store.Lease, nodes []store.Node) (int, error) {
	_, err := b.park(ctx, l, nil, nodes, true)
	return len(nodes), err
}

// park is Park in one transaction, or with keep only the queueing of
// above (see store.ParkStepper).
func (b *Backend) park(ctx context.Context, l store.Lease, parents []store.Ref, above []store.Node, keep bool) (store.ParkResult, error) {
	var res store.ParkResult
	err := b.write(ctx, func(tx *txn) error {
		r, err := tx.held(l)
		if err != nil {
			return err
		}
		res = store.ParkResult{Ready: !keep, Parents: make([]store.Job, len(parents))}
		for i, p := range parents {
			pr, _, err := tx.load(p)
			if err != nil {
				return err
			}
			res.Parents[i] = pr.job(tx.now)
			res.Ready = res.Ready && pr.state == store.Completed
		}
		if res.Ready {
			return nil
		}
		for _, n := range above {
			pr, found, err := tx.load(n.Ref)
			if err != nil {
				return err
			}
			switch {
			case !found:
				if _, err := tx.create(&pr, n, r.priority); err != nil {
					return err
				}
			case pr.state == store.Pending && !pr.queued && !pr.leased(tx.now):
				if err := tx.enqueue(&pr, r.priority); err != nil {
					return err
				}
			default:
				continue
			}
			if err := tx.save(&pr); err != nil {
				return err
			}
		}
		if keep {
			return nil
		}
		dequeue(&r)
		clearLease(&r)
		if l.Seq > 0 && l.Seq == r.tries {
			r.tries-- // nothing ran: the number is given back
		}
		return tx.save(&r)
	})
	if err != nil {
		return store.ParkResult{}, fmt.Errorf("park %v: %w", l.Ref, err)
	}
	return res, nil
}

// SetState sets the state of an existing job (see store.Backend).
func (b *Backend) SetState(ctx context.Context, ref store.Ref, st store.State, outcome string) error {
	err := b.write(ctx, func(tx *txn) error {
		r, found, err := tx.load(ref)
		if err != nil {
			return err
		}
		if !found {
			return store.ErrNotFound
		}
		r.state, r.outcome = st, outcome
		revoke(&r, tx.now)
		if st != store.Pending {
			dequeue(&r)
			if r.transferable {
				clearLease(&r) // nothing runs under it
			}
		}
		return tx.save(&r)
	})
	if err != nil {
		return fmt.Errorf("set state %v: %w", ref, err)
	}
	return nil
}
