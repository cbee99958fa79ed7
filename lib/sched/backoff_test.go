package sched

import (
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
		if got := Backoff(tc.base, tc.before); got != tc.want {
			t.Errorf("Backoff(%v, %d) = %v, want %v", tc.base, tc.before, got, tc.want)
		}
	}
}
