package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// fake is a Backend that records the calls that reach it.
type fake struct {
	Backend // nil: a call not overridden below panics
	calls   []string
}

func (f *fake) Complete(context.Context, Lease, string, []Child) error {
	f.calls = append(f.calls, "complete")
	return nil
}

func (f *fake) Claim(context.Context, ClaimRequest) (ClaimResult, error) {
	f.calls = append(f.calls, "claim")
	return ClaimResult{}, nil
}

// fakeCC is a fake with CompleteClaim.
type fakeCC struct{ *fake }

func (f fakeCC) CompleteClaim(context.Context, Lease, string, []Child, ClaimRequest) (ClaimResult, error, error) {
	f.calls = append(f.calls, "complete-claim")
	return ClaimResult{}, nil, nil
}

var (
	goodLease = Lease{Ref: Ref{App: "a", JobID: "1"}, Token: "t"}
	goodReq   = ClaimRequest{App: "a", Owner: "w", N: 1, Lease: 1e9}
)

// TestCheckedCompleteClaim: Checked keeps a backend's CompleteClaim, and
// store.CompleteClaim uses it, or else Complete and then Claim; a bad part
// is refused and the other part made alone.
func TestCheckedCompleteClaim(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		cc        bool
		l         Lease
		req       ClaimRequest
		calls     string
		done, err string
	}{
		{"one step", true, goodLease, goodReq, "[complete-claim]", "", ""},
		{"fallback", false, goodLease, goodReq, "[complete claim]", "", ""},
		{"bad claim", true, goodLease, ClaimRequest{App: "a", N: 1, Lease: 1e9}, "[complete]", "", "claim a: empty owner"},
		{"bad claim, fallback", false, goodLease, ClaimRequest{App: "a", N: 1, Lease: 1e9}, "[complete]", "", "claim a: empty owner"},
		{"bad lease", true, Lease{Ref: Ref{App: "a"}}, goodReq, "[claim]", `complete: empty job id (app "a")`, ""},
		{"both bad", true, Lease{Ref: Ref{App: "a"}}, ClaimRequest{}, "[]", `complete: empty job id (app "a")`, "claim: empty app name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{}
			var b Backend = f
			if tc.cc {
				b = fakeCC{f}
			}
			c := Checked(b)
			if _, ok := c.(CompleteClaimer); ok != tc.cc {
				t.Fatalf("Checked is a CompleteClaimer: %v, want %v", ok, tc.cc)
			}
			if Checked(c) != c {
				t.Fatalf("Checked(Checked(b)) wraps b twice")
			}
			_, done, err := CompleteClaim(ctx, c, tc.l, "exit 0", nil, tc.req)
			if got := fmt.Sprint(f.calls); got != tc.calls {
				t.Errorf("calls %s, want %s", got, tc.calls)
			}
			for _, e := range []struct {
				what string
				err  error
				want string
			}{{"completion", done, tc.done}, {"claim", err, tc.err}} {
				switch {
				case e.want == "" && e.err != nil:
					t.Errorf("%s: %v, want nil", e.what, e.err)
				case e.want != "" && (e.err == nil || e.err.Error() != e.want || !errors.Is(e.err, ErrInvalid)):
					t.Errorf("%s: %v, want ErrInvalid %q", e.what, e.err, e.want)
				}
			}
		})
	}
}

func TestKeep(t *testing.T) {
	for _, c := range []struct {
		in, want int
		err      string
	}{{0, DefaultKeep, ""}, {1, 1, ""}, {25, 25, ""}, {-1, 0, "history retention -1 is negative"}} {
		got, err := Keep(c.in)
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && err.Error() != c.err) {
			t.Errorf("Keep(%d) = %d, %v; want %d, %q", c.in, got, err, c.want, c.err)
		}
	}
}
