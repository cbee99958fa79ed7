package exec

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/runner"
	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
	"github.com/stolos-sched/stolos/lib/store/local"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ReaperArg {
		os.Exit(runner.ReaperMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// lateAnswers is a backend whose answers to Claim and Acquire arrive late
// (a slow network, a worker paused between sending a request and reading
// its answer): the store took the lease before the delay.
type lateAnswers struct {
	store.Backend
	delay time.Duration
}

func (b lateAnswers) Claim(ctx context.Context, r store.ClaimRequest) (store.ClaimResult, error) {
	res, err := b.Backend.Claim(ctx, r)
	time.Sleep(b.delay) // the fault: the answer is on its way
	return res, err
}

func (b lateAnswers) Acquire(ctx context.Context, ref store.Ref, owner string, lease time.Duration) (store.Lease, error) {
	l, err := b.Backend.Acquire(ctx, ref, owner, lease)
	time.Sleep(b.delay)
	return l, err
}

// A lease is counted from when the request that took it was sent, not from
// when its answer arrived: a worker that learns of its lease after the
// lease (less the margin) ended does not start the command, which another
// worker may run by then.
func TestLeaseCountedFromTheRequest(t *testing.T) {
	const lease = 400 * time.Millisecond
	for _, tc := range []struct {
		name  string
		named bool
	}{{"claimed", false}, {"named", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ran := filepath.Join(dir, "ran")
			cfg, err := config.Parse([]byte(`{"a": {"job_id": "{x}", "bash_cmd": "echo run >>`+ran+`"}}`), config.Options{})
			if err != nil {
				t.Fatal(err)
			}
			be, err := local.Open(context.Background(), filepath.Join(dir, "stolos.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer be.Close()
			s := sched.New(cfg, lateAnswers{be, 2 * lease})
			ctx := context.Background()
			j, err := s.Resolve(store.Ref{App: "a", JobID: "1"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := be.Submit(ctx, []store.SubmitItem{{Node: store.Node{Ref: j.Ref()}}}); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			tool, f := newTool(nil, &bytes.Buffer{}, &stderr)
			f.App, f.Lease, f.MaxRetry, f.Grace = "a", lease, 5, 0
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			reaper := runner.NewReaper([]string{exe, ReaperArg})
			defer reaper.Close()
			w := &worker{t: tool, f: f, s: s, reaper: reaper, owner: "test:1", apps: apps{names: []string{"a"}}}
			if tc.named {
				w.named(ctx, []string{"1"})
			} else {
				w.claimed(ctx)
			}
			st := tool.Status()
			if _, err := os.Stat(ran); err == nil {
				t.Errorf("the command ran under a lease that had ended before its answer came")
			}
			want := "stolos-exec: a 1 attempt 1: lease lost; command killed, no outcome recorded\n"
			if st != cli.Failure || stderr.String() != want {
				t.Errorf("status %d, stderr %q; want %d, %q", st, stderr.String(), cli.Failure, want)
			}
			if strings.Contains(stderr.String(), "completed") {
				t.Errorf("a completion was recorded")
			}
		})
	}
}
