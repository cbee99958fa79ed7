package exec

import (
	"strings"
	"testing"
)

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
