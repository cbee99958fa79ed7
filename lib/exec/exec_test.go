package exec

import (
	"strings"
	"testing"
	"time"
)

// The n-th retry waits retry_delay * 2^(n-1), capped at MaxBackoff.
func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		base   time.Duration
		before int
		want   time.Duration
	}{
		{0, 3, 0},
		{20 * time.Second, 0, 20 * time.Second},
		{20 * time.Second, 1, 40 * time.Second},
		{20 * time.Second, 3, 160 * time.Second},
		{time.Hour, 10, MaxBackoff},
		{time.Second, 1000, MaxBackoff},
		{MaxBackoff * 2, 0, MaxBackoff},
	} {
		if got := backoff(tc.base, tc.before); got != tc.want {
			t.Errorf("backoff(%v, %d) = %v, want %v", tc.base, tc.before, got, tc.want)
		}
	}
}

func TestSplitExtra(t *testing.T) {
	for _, tc := range []struct {
		args, rest []string
		ids, extra string
	}{
		{[]string{"-a", "x", "1", "2"}, []string{"1", "2"}, "1 2", ""},
		{[]string{"-a", "x", "--", "echo", "hi"}, []string{"echo", "hi"}, "", "echo hi"},
		{[]string{"-a", "x", "1", "--", "more"}, []string{"1", "--", "more"}, "1", "more"},
		{[]string{"-a", "x"}, nil, "", ""},
	} {
		ids, extra := splitExtra(tc.args, tc.rest)
		if strings.Join(ids, " ") != tc.ids || strings.Join(extra, " ") != tc.extra {
			t.Errorf("%q: ids %q extra %q, want %q %q", tc.args, ids, extra, tc.ids, tc.extra)
		}
	}
}
