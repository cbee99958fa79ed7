// Package redis is the Redis job-state and queue backend of stolos: a
// store.Backend over one Redis server (standalone, not cluster), where
// every transition is one Lua script and so atomic across all machines that
// share the server. Leases and retry delays use the server's clock.
//
// It fixes the original's Redis backend: the db is honoured, priorities are
// ordered as numbers, a claim skips over entries that are claimed or
// delayed without scanning them (they live in their own sorted sets), a
// consumed entry leaves no key behind, and losing a lease is an error, not
// a signal.
package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/stolos-sched/stolos/lib/store"
)

// DefaultKeyPrefix is the key prefix the tools use when none is given.
const DefaultKeyPrefix = "stolos:"

// DefaultPort is Redis's port.
const DefaultPort = 6379

// listPage is how many jobs List reads per round trip.
const listPage = 500

// Options say how to reach the server.
type Options struct {
	Host     string // default 127.0.0.1
	Port     int    // default 6379
	DB       int
	Username string // for Redis ACLs; "" is the default user
	Password string
	// TLS connects with TLS, verifying the server against the system's
	// roots; TLSConfig, if set, is used instead (and implies TLS).
	TLS       bool
	TLSConfig *tls.Config
	// KeyPrefix begins every key and channel name, so that many namespaces
	// share one db. It is used as given (see DefaultKeyPrefix).
	KeyPrefix string
	// DialTimeout bounds connecting; default 5s.
	DialTimeout time.Duration
	// Keep is how many attempts of each job the history keeps; zero
	// means store.DefaultKeep.
	Keep int
}

func (o Options) addr() string {
	host, port := o.Host, o.Port
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// voidLogger drops go-redis's log lines.
type voidLogger struct{}

func (voidLogger) Printf(context.Context, string, ...any) {}

// Backend is a store.Backend on Redis.
type Backend struct {
	c      *goredis.Client
	addr   string
	prefix string
	argv1  string // every script's ARGV[1]: installation id, "\n", keep, "\n", prefix
	keep   int    // attempts kept per job
	s      scripts
	wide   sync.Map // child app -> whether its children have more than eagerMax parents
	ran    sync.Map // script hash -> true: run once by this process (pipeline)
}

var (
	_ store.Backend         = (*Backend)(nil)
	_ store.CompleteClaimer = (*Backend)(nil)
)

// Open connects to the server, checks that it answers, loads the scripts,
// and writes one warning line to warn if the server may evict keys.
func Open(ctx context.Context, o Options, warn io.Writer) (*Backend, error) {
	addr := o.addr()
	var err error
	if o.Keep, err = store.Keep(o.Keep); err != nil {
		return nil, fmt.Errorf("redis %s: %v", addr, err)
	}
	opt := &goredis.Options{
		Addr:            addr,
		Username:        o.Username,
		Password:        o.Password,
		DB:              o.DB,
		DialTimeout:     o.DialTimeout,
		Protocol:        2,
		DisableIdentity: true,
		TLSConfig:       o.TLSConfig,
		// A script whose reply was lost may have run: running it again
		// could count a failure twice, or find its own lease and say
		// "held". Do not retry; dead pooled connections are dropped when
		// taken from the pool, and callers see the error.
		MaxRetries: -1,
		// A call returns by its context's deadline, also on a connection
		// that stopped answering (a partition, a paused server); without
		// this go-redis waits its own read timeout. stolos-exec's renewals
		// rely on it (DESIGN.md, leases).
		ContextTimeoutEnabled: true,
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = 5 * time.Second
	}
	if o.TLS && opt.TLSConfig == nil {
		opt.TLSConfig = &tls.Config{ServerName: strings.Trim(o.Host, "[]"), MinVersion: tls.VersionTLS12}
	}
	// go-redis logs dial failures to stderr by itself ("connection pool:
	// failed to dial after 5 attempts"), beside the error its caller gets
	// and reports: that would print one error twice. Its logger is the
	// library's global; every Open sets the same.
	goredis.SetLogger(voidLogger{})
	// Dial once ourselves first: the client retries failed dials, which is
	// right for reconnecting later but slow to say that nobody listens.
	d := net.Dialer{Timeout: opt.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, (&Backend{addr: addr}).openErr(err, o)
	}
	conn.Close()
	b := &Backend{c: goredis.NewClient(opt), addr: addr, prefix: o.KeyPrefix, keep: o.Keep, s: newScripts()}
	// The installation marker's script is the first command: it checks
	// that the server answers (no PING), and, as every script, runs by
	// EVALSHA, falling back to EVAL (which caches it) only when the server
	// does not have it yet. Nothing loads the scripts beforehand: a
	// process sends EVALSHA of the scripts it runs, once each, so its
	// set-up is this script and checkServer's (DESIGN.md, "Redis").
	if err := b.install(ctx, warn); err != nil {
		b.c.Close()
		return nil, b.openErr(err, o)
	}
	b.checkServer(ctx, warn)
	return b, nil
}

// install reads the installation marker, making it if there is none, so
// that every script can check that the data it works on is the data this
// process found: a server that restarted without persistence, or was
// flushed, fails the next script with ErrDataLost rather than answering
// "nothing to do". State without a marker (written by a stolos from before
// markers, or the marker was deleted) gets one, with a warning.
func (b *Backend) install(ctx context.Context, warn io.Writer) error {
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	v, err := b.s.install.Run(ctx, b.c, nil, b.prefix, hex.EncodeToString(id)).Result()
	if err != nil {
		return err // Open words it
	}
	r := toSlice(v)
	if len(r) != 2 || toStr(r[0]) == "" {
		return fmt.Errorf("redis %s: installation marker: bad reply %v", b.addr, v)
	}
	b.argv1 = toStr(r[0]) + "\n" + strconv.Itoa(b.keep) + "\n" + b.prefix
	if toInt(r[1]) != 0 && warn != nil {
		fmt.Fprintf(warn, "warning: redis %s: job state under prefix %q had no installation marker; made one\n", b.addr, b.prefix)
	}
	return nil
}

// openErr says in one line why the first PING failed.
func (b *Backend) openErr(err error, o Options) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "WRONGPASS") || strings.Contains(msg, "invalid password"):
		return fmt.Errorf("redis %s: wrong password", b.addr)
	case strings.Contains(msg, "NOAUTH"):
		return fmt.Errorf("redis %s: the server wants a password and none was given", b.addr)
	case strings.Contains(msg, "without any password configured"):
		return fmt.Errorf("redis %s: a password was given but the server has none", b.addr)
	case strings.Contains(msg, "DB index is out of range"):
		return fmt.Errorf("redis %s: db %d is out of range", b.addr, o.DB)
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return fmt.Errorf("redis %s: cannot connect: %v", b.addr, op.Err)
	}
	return fmt.Errorf("redis %s: %v", b.addr, err)
}

// checkServer warns when the server's settings may lose job state: a
// maxmemory-policy that may evict our keys (they never have a TTL, so only
// the allkeys-* policies can; volatile-* policies evict only keys with a
// TTL), or no persistence at all (no RDB save points and no append-only
// file: a restart loses everything). A server that does not permit CONFIG
// is not checked.
func (b *Backend) checkServer(ctx context.Context, warn io.Writer) {
	if warn == nil {
		return
	}
	pipe := b.c.Pipeline()
	policy := pipe.ConfigGet(ctx, "maxmemory-policy")
	save := pipe.ConfigGet(ctx, "save")
	aof := pipe.ConfigGet(ctx, "appendonly")
	if _, err := pipe.Exec(ctx); err != nil {
		return
	}
	if p := policy.Val()["maxmemory-policy"]; strings.HasPrefix(p, "allkeys-") {
		fmt.Fprintf(warn, "warning: redis %s has maxmemory-policy %s, which may evict job state; set it to noeviction\n", b.addr, p)
	}
	if strings.TrimSpace(save.Val()["save"]) == "" && aof.Val()["appendonly"] == "no" {
		fmt.Fprintf(warn, "warning: redis %s has no persistence (no save points, appendonly no): a restart loses all job state; set appendonly yes\n", b.addr)
	}
}

// Close closes the connections.
func (b *Backend) Close() error { return b.c.Close() }

// run runs a script with the key prefix first, and turns the scripts'
// error replies into the store's errors about ref.
func (b *Backend) run(ctx context.Context, sc *goredis.Script, ref store.Ref, args ...any) (any, error) {
	return b.reply(ref, sc.Run(ctx, b.c, nil, append([]any{b.argv1}, args...)...))
}

// reply is a script's result, with its error replies turned into the
// store's errors about ref.
func (b *Backend) reply(ref store.Ref, c *goredis.Cmd) (any, error) {
	v, err := c.Result()
	if err == nil {
		return v, nil
	}
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, "STOLOS ")
	if !ok {
		return nil, fmt.Errorf("redis %s: %v", b.addr, err)
	}
	word, detail, _ := strings.Cut(rest, " ")
	switch word {
	case "vanished":
		return nil, fmt.Errorf("redis %s: %w: the keys under prefix %q vanished while this process ran (its installation marker is gone or new): the server restarted without persistence, or was flushed", b.addr, store.ErrDataLost, b.prefix)
	case "lease":
		return nil, fmt.Errorf("%v: %w", ref, store.ErrLeaseLost)
	case "notfound":
		return nil, fmt.Errorf("%v: %w", ref, store.ErrNotFound)
	case "held":
		return nil, fmt.Errorf("%v: %w (%s)", ref, store.ErrHeld, detail)
	case "notpending":
		return nil, fmt.Errorf("%v: %w (it is %s)", ref, store.ErrNotPending, detail)
	case "resetting":
		return nil, fmt.Errorf("%v: %w", ref, store.ErrResetting)
	}
	return nil, fmt.Errorf("redis %s: %v", b.addr, err)
}

// call is one script call of a pipeline.
type call struct {
	sc   *goredis.Script
	ref  store.Ref
	args []any // the prefix first
	cmd  *goredis.Cmd
}

// pipeline runs script calls in order in one round trip (EVALSHA), and
// runs again, one by one with EVAL, those the server did not know (its
// script cache was emptied by a restart): what a call did is always the
// script's whole work, once. Until this process has run each of the
// scripts once, it runs them one by one (Run: EVALSHA, then EVAL if the
// server does not know it): in a pipeline, a call after one that the
// server did not know would run before it (a claim before the completion
// that should come first, on a server that has not run the complete
// script yet).
func (b *Backend) pipeline(ctx context.Context, calls ...*call) {
	for _, c := range calls {
		if _, ok := b.ran.Load(c.sc.Hash()); !ok {
			for _, c := range calls {
				c.cmd = c.sc.Run(ctx, b.c, nil, c.args...)
				if err := c.cmd.Err(); err == nil || !goredis.HasErrorPrefix(err, "NOSCRIPT") {
					b.ran.Store(c.sc.Hash(), true)
				}
			}
			return
		}
	}
	pipe := b.c.Pipeline()
	for _, c := range calls {
		c.cmd = pipe.EvalSha(ctx, c.sc.Hash(), nil, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each call's error is in its cmd
	for _, c := range calls {
		if err := c.cmd.Err(); err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
			c.cmd = c.sc.Run(ctx, b.c, nil, c.args...)
		}
	}
}

// seqArg is an attempt number as a script argument.
func seqArg(seq int64) string { return strconv.FormatInt(seq, 10) }

func micros(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) }

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Submit queues jobs, one script per step of store.SubmitStep; a readd in
// steps goes on with the readd script.
func (b *Backend) Submit(ctx context.Context, items []store.SubmitItem) ([]store.SubmitResult, error) {
	return store.SubmitInSteps(ctx, items, store.Batch, b.submit, b.readdSteps)
}

// submit runs the submit script for the items of one step; split: the
// first step of a readd in steps (one item, its marker and no reset).
func (b *Backend) submit(ctx context.Context, items []store.SubmitItem, split bool) ([]store.SubmitResult, error) {
	args := make([]any, 0, 6*len(items))
	for _, it := range items {
		rd := flag(it.Readd)
		reset := it.Reset
		if split {
			rd, reset = "2", nil
		}
		args = append(args, it.App, it.JobID, flag(it.Skip), strconv.Itoa(it.Priority), rd, strconv.Itoa(len(reset)))
		for _, r := range reset {
			args = append(args, r.App, r.JobID)
		}
	}
	v, err := b.run(ctx, b.s.submit, items[0].Ref, args...)
	if err != nil {
		return nil, err
	}
	codes, _ := v.([]any)
	if len(codes) != len(items) {
		return nil, fmt.Errorf("redis %s: submit: %d results for %d items", b.addr, len(codes), len(items))
	}
	res := make([]store.SubmitResult, len(items))
	for i, c := range codes {
		res[i] = store.SubmitResult(toInt(c))
	}
	return res, nil
}

// readdSteps runs the readd script until the readd marker of job is gone,
// from its descendant number done (the marker's count, if the script says
// otherwise), with windows of store.Batch. With done < 0 (ResumeReadd) it
// runs it at least once, which does nothing without a readd marker.
func (b *Backend) readdSteps(ctx context.Context, job store.Ref, reset []store.Ref, done int) error {
	for first := done < 0; first || done >= 0 && done < len(reset); first = false {
		from := max(done, 0)
		err := store.Step(ctx, job, from)
		if err == nil {
			win := reset[min(from, len(reset)):min(from+store.Batch, len(reset))]
			args := make([]any, 0, 4+2*len(win))
			args = append(args, job.App, job.JobID, strconv.Itoa(from), strconv.Itoa(len(reset)))
			for _, r := range win {
				args = append(args, r.App, r.JobID)
			}
			var v any
			if v, err = b.run(ctx, b.s.readd, job, args...); err == nil {
				done = toInt(v)
			}
		}
		if err != nil {
			return fmt.Errorf("descendants from %d of %d: %w", from, len(reset), err)
		}
	}
	return nil
}

// ResumeReadd finishes a readd in steps (see store.Backend).
func (b *Backend) ResumeReadd(ctx context.Context, job store.Ref, reset []store.Ref) error {
	if err := b.readdSteps(ctx, job, reset, -1); err != nil {
		return fmt.Errorf("resume readd of %v: %w", job, err)
	}
	return nil
}

// Claim takes up to req.N jobs off the app's queue (or, across apps, off
// the queue of one of them: one script chooses and claims).
func (b *Backend) Claim(ctx context.Context, req store.ClaimRequest) (store.ClaimResult, error) {
	// One script per store.Batch jobs, so that a claim of many runs no
	// long script; the call's answer is the first script's Next.
	var res store.ClaimResult
	for first := true; ; first = false {
		part := req
		part.N = min(req.N-len(res.Leases), store.Batch)
		sc, args := b.claimCall(part)
		v, err := b.run(ctx, sc, store.Ref{App: part.Name()}, args...)
		if err != nil {
			return res, err
		}
		got, err := b.claimed(part, v)
		if err != nil {
			return res, err
		}
		res.Leases = append(res.Leases, got.Leases...)
		res.Failed = append(res.Failed, got.Failed...)
		res.Limited = got.Limited
		if first {
			res.Next = got.Next
		}
		if len(got.Leases) < part.N || len(res.Leases) == req.N {
			return res, nil
		}
		if len(req.Apps) > 0 { // the rest from the app chosen
			req = req.For(slices.IndexFunc(req.Apps, func(a store.AppClaim) bool { return a.App == got.Leases[0].App }))
		}
	}
}

// claimCall returns the script and arguments of a claim: of one app, or
// across apps.
func (b *Backend) claimCall(req store.ClaimRequest) (*goredis.Script, []any) {
	if len(req.Apps) == 0 {
		args := []any{req.App, req.Owner, strconv.Itoa(req.N), micros(req.Lease), flag(req.Transferable), strconv.Itoa(req.MaxRetry)}
		return b.s.claim, limitArgs(args, req.Limits)
	}
	args := []any{req.Owner, strconv.Itoa(req.N), micros(req.Lease), flag(req.Transferable), strconv.Itoa(len(req.Apps))}
	for _, a := range req.Apps {
		args = limitArgs(append(args, a.App, strconv.Itoa(a.MaxRetry)), a.Limits)
	}
	return b.s.claimApps, args
}

// limitArgs appends the claim script's arguments of limits to args.
func limitArgs(args []any, limits []store.Limit) []any {
	args = append(args, strconv.Itoa(len(limits)))
	for _, l := range limits {
		args = append(args, l.Name, strconv.Itoa(l.Max), strconv.Itoa(len(l.Apps)))
		for _, a := range l.Apps {
			args = append(args, a)
		}
	}
	return args
}

// claimed parses the claim script's reply.
func (b *Backend) claimed(req store.ClaimRequest, v any) (store.ClaimResult, error) {
	r, _ := v.([]any)
	app := req.App
	if len(req.Apps) > 0 && len(r) == 5 { // across apps: which one
		i := toInt(r[4])
		if i < 0 || i > len(req.Apps) {
			return store.ClaimResult{}, fmt.Errorf("redis %s: claim: bad reply", b.addr)
		}
		if i > 0 {
			app = req.Apps[i-1].App
		}
		r = r[:4]
	}
	if len(r) != 4 {
		return store.ClaimResult{}, fmt.Errorf("redis %s: claim: bad reply", b.addr)
	}
	var res store.ClaimResult
	for _, e := range toSlice(r[0]) {
		f := toSlice(e)
		if len(f) != 6 {
			return store.ClaimResult{}, fmt.Errorf("redis %s: claim: bad reply", b.addr)
		}
		res.Leases = append(res.Leases, store.Lease{
			Ref:      store.Ref{App: app, JobID: toStr(f[0])},
			Token:    toStr(f[1]),
			Owner:    req.Owner,
			Until:    toTime(f[2]),
			Priority: toInt(f[3]),
			Attempts: toInt(f[4]),
			Seq:      int64(toInt(f[5])),
		})
	}
	res.Next = toTime(r[1])
	for _, e := range toSlice(r[2]) {
		f := toSlice(e)
		if len(f) != 2 {
			return store.ClaimResult{}, fmt.Errorf("redis %s: claim: bad reply", b.addr)
		}
		res.Failed = append(res.Failed, decodeJob(store.Ref{App: app, JobID: toStr(f[0])}, f[1]))
	}
	res.Limited = toStr(r[3])
	return res, nil
}

// Acquire takes a lease on one named job.
func (b *Backend) Acquire(ctx context.Context, ref store.Ref, owner string, lease time.Duration) (store.Lease, error) {
	v, err := b.run(ctx, b.s.acquire, ref, ref.App, ref.JobID, owner, micros(lease))
	if err != nil {
		return store.Lease{}, err
	}
	f := toSlice(v)
	if len(f) != 5 {
		return store.Lease{}, fmt.Errorf("redis %s: acquire: bad reply", b.addr)
	}
	return store.Lease{Ref: ref, Token: toStr(f[0]), Owner: owner, Until: toTime(f[1]), Priority: toInt(f[2]),
		Attempts: toInt(f[3]), Seq: int64(toInt(f[4]))}, nil
}

// Renew extends a lease.
func (b *Backend) Renew(ctx context.Context, l store.Lease, d time.Duration) (store.Lease, error) {
	v, err := b.run(ctx, b.s.renew, l.Ref, l.App, l.JobID, l.Token, micros(d))
	if err != nil {
		return store.Lease{}, err
	}
	l.Until = toTime(v)
	return l, nil
}

// Release gives a lease back.
func (b *Backend) Release(ctx context.Context, l store.Lease) error {
	_, err := b.run(ctx, b.s.release, l.Ref, l.App, l.JobID, l.Token, seqArg(l.Seq), l.Log)
	return err
}

// Held reads whether a lease is still held.
func (b *Backend) Held(ctx context.Context, l store.Lease) error {
	v, err := b.run(ctx, b.s.held, l.Ref, l.App, l.JobID, l.Token)
	if err != nil {
		return err
	}
	if toInt(v) != 1 {
		return fmt.Errorf("%v: %w", l.Ref, store.ErrLeaseLost)
	}
	return nil
}

// Complete marks a job completed and queues its ready children: the
// complete script with the first window of children, then the bubble
// script for the rest.
func (b *Backend) Complete(ctx context.Context, l store.Lease, outcome string, children []store.Child) error {
	memo := parentsMemo{}
	win, err := b.window(children, memo, 0, false, 0)
	if err != nil {
		return fmt.Errorf("complete %v: %w", l.Ref, err)
	}
	v, err := b.run(ctx, b.s.complete, l.Ref, append([]any{l.App, l.JobID, l.Token, outcome, seqArg(l.Seq), l.Log}, win...)...)
	if err != nil {
		return err
	}
	return b.finished(ctx, l.Ref, children, memo, v)
}

// CompleteClaim runs the complete and the claim scripts in one round trip,
// and then the bubble script for the children the first did not handle.
func (b *Backend) CompleteClaim(ctx context.Context, l store.Lease, outcome string, children []store.Child, req store.ClaimRequest) (store.ClaimResult, error, error) {
	memo := parentsMemo{}
	win, err := b.window(children, memo, 0, false, 0)
	if err != nil {
		res, cerr := b.Claim(ctx, req)
		return res, fmt.Errorf("complete %v: %w", l.Ref, err), cerr
	}
	c := &call{sc: b.s.complete, ref: l.Ref, args: append([]any{b.argv1, l.App, l.JobID, l.Token, outcome, seqArg(l.Seq), l.Log}, win...)}
	sc, args := b.claimCall(req)
	q := &call{sc: sc, ref: store.Ref{App: req.Name()}, args: append([]any{b.argv1}, args...)}
	b.pipeline(ctx, c, q)
	cv, done := b.reply(c.ref, c.cmd)
	if done == nil {
		done = b.finished(ctx, l.Ref, children, memo, cv)
	}
	v, err := b.reply(q.ref, q.cmd)
	if err != nil {
		return store.ClaimResult{}, done, err
	}
	res, err := b.claimed(req, v)
	return res, done, err
}

// eagerMax is the most parents of a child sent with it whether or not the
// script needs them: a child app whose children have more is wide.
const eagerMax = 64

// window returns the arguments of a window of children from index from:
// as many as fit in store.Batch units (a child, and each parent sent). A
// child's parents are computed and sent when this process does not know
// yet whether its app is wide (more than eagerMax parents), when it knows
// it is not, and when the script asked for them (need, the first child,
// from its parent number pfrom): a worker completing parents of a wide
// child computes and sends them once, and then only when the script needs
// them. At most store.Batch parents of a child are sent at once: a script
// that builds a fan-in record reads no more (the next call sends the
// next ones).
func (b *Backend) window(children []store.Child, memo parentsMemo, from int, need bool, pfrom int) ([]any, error) {
	args := []any{strconv.Itoa(from), strconv.Itoa(len(children))}
	units := 0
	for i := from; i < len(children) && units < store.Batch; i++ {
		c := children[i]
		asked := need && i == from
		wide, known := b.wide.Load(c.App)
		np, off := -1, 0
		var parents []store.Ref
		if !known || asked || !wide.(bool) {
			var err error
			if parents, err = memo.of(i, c); err != nil {
				return nil, err
			}
			b.wide.Store(c.App, len(parents) > eagerMax)
			np = len(parents)
			if asked {
				off = min(pfrom, np)
			}
			parents = parents[off:min(np, off+store.Batch)]
		}
		args = append(args, c.App, c.JobID, flag(c.Skip), strconv.Itoa(np), strconv.Itoa(off), strconv.Itoa(len(parents)))
		for _, p := range parents {
			args = append(args, p.App, p.JobID)
		}
		units += 1 + len(parents)
	}
	return args, nil
}

// parentsMemo keeps the parents of the children of one bubble-down, by
// index, computed once: the build of a wide child's record takes them in
// several windows.
type parentsMemo map[int][]store.Ref

func (m parentsMemo) of(i int, c store.Child) ([]store.Ref, error) {
	if ps, ok := m[i]; ok {
		return ps, nil
	}
	ps, err := store.ChildParents(c)
	if err == nil {
		m[i] = ps
	}
	return ps, err
}

// finished goes on with a bubble-down after the complete script's reply
// v, and says so if that fails.
func (b *Backend) finished(ctx context.Context, parent store.Ref, children []store.Child, memo parentsMemo, v any) error {
	st, err := b.bubbled(v)
	if err == nil {
		err = b.finish(ctx, parent, children, memo, st)
	}
	if err != nil {
		return fmt.Errorf("complete %v: %w: children from %d of %d: %w", parent, store.ErrUnfinished, st.done, len(children), err)
	}
	return nil
}

// bubbleState is where a bubble-down is, as the complete and bubble
// scripts answer: the children done, and whether the script wants the
// parents of the next child (need), from its parent number from.
type bubbleState struct {
	done, from int
	need       bool
}

// bubbled parses the {done, need, from} reply of the complete and bubble
// scripts.
func (b *Backend) bubbled(v any) (bubbleState, error) {
	r := toSlice(v)
	if len(r) != 3 {
		return bubbleState{}, fmt.Errorf("redis %s: bubble-down: bad reply", b.addr)
	}
	return bubbleState{done: toInt(r[0]), need: toInt(r[1]) == 1, from: toInt(r[2])}, nil
}

// finish runs the bubble script until the bubble-down of parent is done,
// from where st says. With st.done < 0 (Resume) it runs it at least once,
// which drops a marker with nothing left to do.
func (b *Backend) finish(ctx context.Context, parent store.Ref, children []store.Child, memo parentsMemo, st bubbleState) error {
	for first := st.done < 0; first || st.done >= 0 && st.done < len(children); first = false {
		if err := store.Step(ctx, parent, max(st.done, 0)); err != nil {
			return err
		}
		win, err := b.window(children, memo, max(st.done, 0), st.need, st.from)
		if err != nil {
			return err
		}
		v, err := b.run(ctx, b.s.bubble, parent, append([]any{parent.App, parent.JobID}, win...)...)
		if err != nil {
			return err
		}
		if st, err = b.bubbled(v); err != nil {
			return err
		}
	}
	return nil
}

// Unfinished lists unfinished bubble-downs idle for idle (see
// store.Backend).
func (b *Backend) Unfinished(ctx context.Context, idle time.Duration, n int) ([]store.Marker, error) {
	v, err := b.run(ctx, b.s.unfinished, store.Ref{}, micros(idle), strconv.Itoa(n))
	if err != nil {
		return nil, fmt.Errorf("unfinished: %w", err)
	}
	var out []store.Marker
	ms := toSlice(v)
	for i := 0; i+1 < len(ms); i += 2 {
		app, id, ok := strings.Cut(toStr(ms[i]), "\t")
		if !ok {
			return nil, fmt.Errorf("redis %s: unfinished: bad member %q", b.addr, toStr(ms[i]))
		}
		out = append(out, store.Marker{Ref: store.Ref{App: app, JobID: id}, Readd: toInt(ms[i+1]) == 1})
	}
	return out, nil
}

// Resume finishes an unfinished bubble-down (see store.Backend).
func (b *Backend) Resume(ctx context.Context, parent store.Ref, children []store.Child) error {
	if err := b.finish(ctx, parent, children, parentsMemo{}, bubbleState{done: -1}); err != nil {
		return fmt.Errorf("resume %v: %w", parent, err)
	}
	return nil
}

// Fail records a failed attempt.
func (b *Backend) Fail(ctx context.Context, l store.Lease, outcome string, maxRetry int, delay time.Duration) (bool, error) {
	v, err := b.run(ctx, b.s.fail, l.Ref, l.App, l.JobID, l.Token, outcome, strconv.Itoa(maxRetry), micros(delay), seqArg(l.Seq), l.Log)
	if err != nil {
		return false, err
	}
	return toInt(v) == 1, nil
}

// Park is bubble-up: see store.Backend. A child with more parents and
// ancestors above than store.Batch is parked in steps
// (store.ParkInSteps), so that no script runs long.
func (b *Backend) Park(ctx context.Context, l store.Lease, parents []store.Ref, above []store.Node) (store.ParkResult, error) {
	if len(parents)+len(above) > store.Batch {
		return store.ParkInSteps(ctx, b, l, parents, above)
	}
	return b.ParkStep(ctx, l, parents, above)
}

// ParkStep is Park in one park script (store.ParkStepper).
func (b *Backend) ParkStep(ctx context.Context, l store.Lease, parents []store.Ref, above []store.Node) (store.ParkResult, error) {
	res, _, err := b.park(ctx, l, parents, above, false)
	return res, err
}

// QueueAbove queues nodes as Park does above in one park script, which
// stops after stepTime (store.ParkStepper).
func (b *Backend) QueueAbove(ctx context.Context, l store.Lease, nodes []store.Node) (int, error) {
	_, k, err := b.park(ctx, l, nil, nodes, true)
	return k, err
}

// park runs the park script: Park, or with keep QueueAbove, which also
// returns how many of above it handled.
func (b *Backend) park(ctx context.Context, l store.Lease, parents []store.Ref, above []store.Node, keep bool) (store.ParkResult, int, error) {
	np := len(parents)
	if keep {
		np, parents = -1, nil
	}
	args := []any{l.App, l.JobID, l.Token, seqArg(l.Seq), np}
	for _, p := range parents {
		args = append(args, p.App, p.JobID)
	}
	for _, n := range above {
		args = append(args, n.App, n.JobID, flag(n.Skip))
	}
	v, err := b.run(ctx, b.s.park, l.Ref, args...)
	if err != nil {
		return store.ParkResult{}, 0, err
	}
	r := toSlice(v)
	if len(r) != 2+btoi(keep) || len(toSlice(r[1])) != len(parents) {
		return store.ParkResult{}, 0, fmt.Errorf("redis %s: park: bad reply", b.addr)
	}
	res := store.ParkResult{Ready: toInt(r[0]) == 1}
	for i, f := range toSlice(r[1]) {
		res.Parents = append(res.Parents, decodeJob(parents[i], f))
	}
	if keep {
		return res, toInt(r[2]), nil
	}
	return res, 0, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SetState sets the state of an existing job.
func (b *Backend) SetState(ctx context.Context, ref store.Ref, st store.State, outcome string) error {
	_, err := b.run(ctx, b.s.setState, ref, ref.App, ref.JobID, string(st), outcome)
	return err
}

// Get reads jobs: one get script per store.Batch jobs, all in one round
// trip, so that no script runs long however many are read.
func (b *Backend) Get(ctx context.Context, refs []store.Ref) ([]store.Job, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	var calls []*call
	for from := 0; from < len(refs); from += store.Batch {
		part := refs[from:min(from+store.Batch, len(refs))]
		args := make([]any, 0, 1+2*len(part))
		args = append(args, b.argv1)
		for _, r := range part {
			args = append(args, r.App, r.JobID)
		}
		calls = append(calls, &call{sc: b.s.get, ref: part[0], args: args})
	}
	b.pipeline(ctx, calls...)
	jobs := make([]store.Job, 0, len(refs))
	for k, c := range calls {
		v, err := b.reply(c.ref, c.cmd)
		if err != nil {
			return nil, err
		}
		part := refs[k*store.Batch : min((k+1)*store.Batch, len(refs))]
		r := toSlice(v)
		if len(r) != 2 || len(toSlice(r[1])) != len(part) {
			return nil, fmt.Errorf("redis %s: get: bad reply", b.addr)
		}
		for i, f := range toSlice(r[1]) {
			jobs = append(jobs, decodeJob(part[i], f))
		}
	}
	return jobs, nil
}

// List calls fn for every job of an app (in one state, unless st is
// Absent), a page at a time, in order of state then job id.
func (b *Backend) List(ctx context.Context, app string, st store.State, fn func(store.Job) error) error {
	states := store.States
	if st != store.Absent {
		states = []store.State{st}
	}
	for _, s := range states {
		after := ""
		for {
			v, err := b.run(ctx, b.s.listPage, store.Ref{App: app}, app, string(s), after, strconv.Itoa(listPage))
			if err != nil {
				return err
			}
			r := toSlice(v)
			if len(r) != 3 {
				return fmt.Errorf("redis %s: list: bad reply", b.addr)
			}
			ids, fields := toSlice(r[1]), toSlice(r[2])
			for i, id := range ids {
				j := decodeJob(store.Ref{App: app, JobID: toStr(id)}, fields[i])
				if j.State == store.Absent {
					continue // deleted between the two reads: cannot happen in one script
				}
				if err := fn(j); err != nil {
					return err
				}
			}
			if len(ids) < listPage {
				break
			}
			after = toStr(ids[len(ids)-1])
		}
	}
	return nil
}

// Count counts an app's jobs.
func (b *Backend) Count(ctx context.Context, app string) (store.Counts, error) {
	v, err := b.run(ctx, b.s.count, store.Ref{App: app}, app)
	if err != nil {
		return store.Counts{}, err
	}
	r := toSlice(v)
	if len(r) != 7 {
		return store.Counts{}, fmt.Errorf("redis %s: count: bad reply", b.addr)
	}
	c := store.Counts{States: map[store.State]int{}, Queued: toInt(r[4]), Claimed: toInt(r[5]),
		HeadAge: time.Duration(toInt(r[6])) * time.Microsecond}
	for i, s := range store.States {
		if n := toInt(r[i]); n > 0 {
			c.States[s] = n
		}
	}
	return c, nil
}

// channel is the pub/sub channel announcing claimable work of app; the
// scripts build the same name.
func (b *Backend) channel(app string) string {
	return b.appKey(app) + "n"
}

// appKey is the prefix of the keys of app (K in scripts.go).
func (b *Backend) appKey(app string) string {
	return b.prefix + strconv.Itoa(len(app)) + ":" + app + ":"
}

// Wait subscribes to the app's channel, then looks whether work is
// claimable already (so that no announcement can be missed between the
// caller's last claim and the subscription), and otherwise blocks until an
// announcement, the next lease expiry or retry time, until, or the end of
// ctx. A zero until means no deadline.
func (b *Backend) Wait(ctx context.Context, app string, until time.Time) error {
	ps := b.c.Subscribe(ctx, b.channel(app))
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("redis %s: subscribe: %v", b.addr, err)
	}
	v, err := b.run(ctx, b.s.waitCheck, store.Ref{App: app}, app)
	if err != nil {
		return err
	}
	r := toSlice(v)
	if len(r) != 3 {
		return fmt.Errorf("redis %s: wait: bad reply", b.addr)
	}
	if toInt(r[0]) == 1 {
		return nil
	}
	deadline := until
	if next := toTime(r[2]); !next.IsZero() {
		// The server's clock decides; convert its distance to ours.
		at := time.Now().Add(next.Sub(toTime(r[1])))
		if deadline.IsZero() || at.Before(deadline) {
			deadline = at
		}
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ps.Channel():
		return nil
	case <-timeout:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// decodeJob reads the fields a script's job() returned.
func decodeJob(ref store.Ref, v any) store.Job {
	f := toSlice(v)
	j := store.Job{Ref: ref}
	if len(f) != 9 || f[0] == nil {
		return j
	}
	j.State = store.State(toStr(f[0]))
	j.Queued = toStr(f[1]) == "1"
	if j.Queued {
		j.Priority = toInt(f[2])
	}
	j.Owner = toStr(f[3])
	j.Until = toTime(f[4])
	j.NotBefore = toTime(f[5])
	j.Attempts = toInt(f[6])
	j.Outcome = toStr(f[7])
	j.Revoked = j.Owner != "" && toStr(f[8]) == "1"
	return j
}

func toSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func toStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

func toInt(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}

// toTime reads microseconds since the epoch; "" or nil is the zero time.
func toTime(v any) time.Time {
	s := toStr(v)
	if s == "" {
		return time.Time{}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64) // a sorted-set score
		if ferr != nil {
			return time.Time{}
		}
		n = int64(f)
	}
	return time.UnixMicro(n)
}

// History reads the recorded attempts of jobs (see store.Backend).
func (b *Backend) History(ctx context.Context, refs []store.Ref) ([][]store.Attempt, error) {
	out := make([][]store.Attempt, len(refs))
	for from := 0; from < len(refs); from += listPage {
		page := refs[from:min(from+listPage, len(refs))]
		args := make([]any, 0, 2*len(page))
		for _, r := range page {
			args = append(args, r.App, r.JobID)
		}
		v, err := b.run(ctx, b.s.history, page[0], args...)
		if err != nil {
			return nil, err
		}
		lists := toSlice(v)
		if len(lists) != len(page) {
			return nil, fmt.Errorf("redis %s: history: bad reply", b.addr)
		}
		for i, l := range lists {
			var as []store.Attempt
			for _, rec := range toSlice(l) {
				a, err := decodeAttempt(page[i], toStr(rec))
				if err != nil {
					return nil, fmt.Errorf("redis %s: history %v: %w", b.addr, page[i], err)
				}
				as = append(as, a)
			}
			sort.Slice(as, func(i, j int) bool { return as[i].Seq < as[j].Seq })
			out[from+i] = as
		}
	}
	return out, nil
}

// AppHistory calls fn for the attempts of an app that ended in [since,
// until), in order of their end, a page at a time (see store.Backend).
func (b *Backend) AppHistory(ctx context.Context, app string, since, until time.Time, fn func(store.Attempt) error) error {
	hi := "+inf"
	if !until.IsZero() {
		hi = "(" + strconv.FormatInt(until.UnixMicro(), 10)
	}
	lo := strconv.FormatInt(since.UnixMicro(), 10)
	for off := 0; ; off += listPage {
		v, err := b.run(ctx, b.s.appHistory, store.Ref{App: app}, app, lo, hi, strconv.Itoa(off), strconv.Itoa(listPage))
		if err != nil {
			return err
		}
		page := toSlice(v)
		for _, e := range page {
			f := toSlice(e)
			if len(f) != 2 {
				return fmt.Errorf("redis %s: history %s: bad reply", b.addr, app)
			}
			r := store.Ref{App: app, JobID: toStr(f[0])}
			if toStr(f[1]) == "" {
				continue // overwritten between two pages
			}
			a, err := decodeAttempt(r, toStr(f[1]))
			if err != nil {
				return fmt.Errorf("redis %s: history %v: %w", b.addr, r, err)
			}
			if err := fn(a); err != nil {
				return err
			}
		}
		if len(page) < listPage {
			return nil
		}
	}
}

// decodeAttempt decodes a record of the attempt ring: the JSON array
// [seq, start, end, worker, outcome, log], times in microseconds.
func decodeAttempt(r store.Ref, rec string) (store.Attempt, error) {
	var f []any
	if err := json.Unmarshal([]byte(rec), &f); err != nil || len(f) != 6 {
		return store.Attempt{}, fmt.Errorf("bad attempt record %q", rec)
	}
	a := store.Attempt{Ref: r}
	seq, _ := f[0].(float64)
	a.Seq = int64(seq)
	a.Start, a.End = toTime(f[1]), toTime(f[2])
	a.Worker, _ = f[3].(string)
	a.Outcome, _ = f[4].(string)
	a.Log, _ = f[5].(string)
	return a, nil
}
