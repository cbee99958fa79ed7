package web_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/backend/backendtest"
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/jobid"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/web"
)

// The demo's pipeline (testdata/demo): preprocess per date and client,
// model_build per date and target over every client, daily_report per
// date over every target.
const tasks = `{
  "preprocess": {"job_id": "{date}_{client_id}", "autofill_values": {"client_id": [1, 2, 3]},
                 "bash_cmd": "echo preprocess client {client_id} for {date}"},
  "model_build": {"job_id": "{date}_{target}", "autofill_values": {"target": ["churn", "ltv"]},
                  "depends_on": {"app_name": ["preprocess"], "client_id": "all"},
                  "bash_cmd": "echo build model {target} for {date}"},
  "daily_report": {"job_id": "{date}", "depends_on": {"app_name": ["model_build"], "target": "all"},
                   "bash_cmd": "echo report for {date}"},
  "adhoc": {"job_id": "{name}", "bash_cmd": "echo {name}"}
}`

const validations = `{"date": {"type": "date", "layout": "20060102"}, "client_id": {"type": "int"},
  "target": {"type": "string", "pattern": "^[a-z]+$"}}`

func loadConfig(tb testing.TB) *config.Config {
	tb.Helper()
	v, err := jobid.ParseValidations([]byte(validations))
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Parse([]byte(tasks), config.Options{Delimiter: "_", Validations: v})
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// backends are the backends the pages are tested on: local always, and
// Redis (a real server, or a skip or failure as testenv says).
var backends = []backendtest.Opener{backendtest.Local, backendtest.Redis}

// The fixture's state, which the tests assert on every backend:
//
//	preprocess 20140601_1..3  completed (attempt 1: exit 0, a log here)
//	preprocess 20140602_1     failed    (attempt 1: exit 3, a log here)
//	preprocess 20140602_2     queued    (attempt 1: exit 3, a log on host elsewhere; retry later)
//	preprocess 20140602_3     queued
//	model_build 20140601_churn running  (on worker-1, attempt 1)
//	model_build 20140601_ltv  queued    (by the completions of its parents)
//	daily_report 20140602     pending, not queued: blocked by preprocess 20140602_1
type fixture struct {
	cfg  *config.Config
	be   store.Backend
	s    *sched.Sched
	logs string // the directory of the logs written here
}

const otherLog = "elsewhere:/var/log/stolos/preprocess/20140602_2.1.log"

func newFixture(t *testing.T, be store.Backend) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{cfg: loadConfig(t), be: be, logs: t.TempDir()}
	f.s = sched.New(f.cfg, be)
	f.s.Warnf = func(format string, args ...any) { t.Errorf("warning: "+format, args...) }
	var items []store.SubmitItem
	for _, id := range []string{"20140601_1", "20140601_2", "20140601_3", "20140602_1", "20140602_2", "20140602_3"} {
		items = append(items, f.item(t, "preprocess", id))
	}
	if _, err := f.s.Submit(ctx, items); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"20140601_1", "20140601_2", "20140601_3"} {
		l := f.acquire(t, "preprocess", id, "stolos-exec@"+sched.Host()+":100")
		l.Log = f.writeLog(t, l, "preprocess "+id+": ok\n")
		if err := f.s.Complete(ctx, l, "exit 0"); err != nil {
			t.Fatal(err)
		}
	}
	l := f.acquire(t, "preprocess", "20140602_1", "stolos-exec@"+sched.Host()+":101")
	l.Log = f.writeLog(t, l, "preprocess 20140602_1: no input\n")
	if _, err := f.s.Fail(ctx, f.cfg.App("preprocess"), l, "exit 3", 1); err != nil {
		t.Fatal(err)
	}
	l = f.acquire(t, "preprocess", "20140602_2", "stolos-exec@elsewhere:102")
	l.Log = otherLog
	if r, err := f.s.Fail(ctx, f.cfg.App("preprocess"), l, "exit 3", 5); err != nil || r.Final {
		t.Fatalf("fail: %+v %v", r, err)
	}
	f.acquire(t, "model_build", "20140601_churn", "worker-1")
	if _, err := f.s.Submit(ctx, []store.SubmitItem{f.item(t, "daily_report", "20140602")}); err != nil {
		t.Fatal(err)
	}
	var parked []string
	n, err := f.s.Claim(ctx, store.ClaimRequest{App: "daily_report", Owner: "worker-2", N: 1, Lease: time.Hour}, 0,
		func(l store.Lease) error { return fmt.Errorf("claimed %v", l.Ref) },
		func(p sched.Parked) { parked = append(parked, p.String()) })
	if err != nil || n != 0 || len(parked) != 1 {
		t.Fatalf("claim of daily_report: %d %v %q", n, err, parked)
	}
	return f
}

func (f *fixture) item(t *testing.T, app, id string) store.SubmitItem {
	t.Helper()
	j, err := f.s.Resolve(store.Ref{App: app, JobID: id})
	if err != nil {
		t.Fatal(err)
	}
	it, err := f.s.Item(context.Background(), j, store.DefaultPriority, false)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func (f *fixture) acquire(t *testing.T, app, id, owner string) store.Lease {
	t.Helper()
	j, err := f.s.Resolve(store.Ref{App: app, JobID: id})
	if err != nil {
		t.Fatal(err)
	}
	l, err := f.s.Acquire(context.Background(), j, owner, time.Hour)
	if err != nil {
		t.Fatalf("acquire %s %s: %v", app, id, err)
	}
	return l
}

// writeLog writes an attempt's log here and returns its location.
func (f *fixture) writeLog(t *testing.T, l store.Lease, text string) string {
	t.Helper()
	path := filepath.Join(f.logs, fmt.Sprintf("%s.%s.%d.log", l.App, l.JobID, l.Seq))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return sched.Host() + ":" + path
}

// serve starts the pages over r.
func (f *fixture) serve(t *testing.T, r web.Reader, opt web.Options) *httptest.Server {
	t.Helper()
	h, err := web.New(f.cfg, r, opt)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// snapshot is everything the backend holds of the fixture's apps, as
// the read operations give it: their counts, their jobs, and the jobs'
// attempts.
func (f *fixture) snapshot(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, a := range f.cfg.Apps {
		c, err := f.s.Count(ctx, a.Name)
		if err != nil {
			t.Fatal(err)
		}
		// Not HeadAge: it grows while nothing changes.
		out = append(out, fmt.Sprintf("%s %v queued %d claimed %d", a.Name, c.States, c.Queued, c.Claimed))
		var jobs []string
		var refs []store.Ref
		err = f.s.List(ctx, a.Name, store.Absent, func(j store.Job) error {
			// Every field: %v of a Job would be its Ref's String.
			jobs = append(jobs, fmt.Sprintf("%s %s %s queued=%v priority=%d owner=%s until=%v not-before=%v attempts=%d outcome=%q revoked=%v",
				j.App, j.JobID, j.State, j.Queued, j.Priority, j.Owner, j.Until.UnixNano(), j.NotBefore.UnixNano(), j.Attempts, j.Outcome, j.Revoked))
			refs = append(refs, j.Ref)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(jobs)
		out = append(out, jobs...)
		hs, err := f.s.History(ctx, refs)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			for _, a := range h {
				out = append(out, fmt.Sprintf("%s %s #%d %v %v %s %q %s", a.App, a.JobID, a.Seq,
					a.Start.UnixNano(), a.End.UnixNano(), a.Worker, a.Outcome, a.Log))
			}
		}
	}
	return fmt.Sprint(out)
}
