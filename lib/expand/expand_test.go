package expand

import (
	"strings"
	"testing"

	"github.com/stolos-sched/stolos/lib/jobid"
)

func FuzzParseValues(f *testing.F) {
	v, _ := jobid.ParseValidations([]byte(`{"d": {"type": "date"}, "n": {"type": "int"}}`))
	for _, s := range []string{"1,2,3", "1..10", "20140130..20140202", "a,,b", "..", "1..", "9223372036854775806..9223372036854775807", "-3..-1,0"} {
		f.Add("n", s)
		f.Add("d", s)
		f.Add("s", s)
	}
	f.Fuzz(func(t *testing.T, ident, spec string) {
		if len(spec) > 200 {
			return
		}
		// A small bound: the fuzzer is after shapes, not sizes.
		vals, err := ParseValues(v[ident], spec, 10_000)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, x := range vals {
			if seen[x] {
				t.Fatalf("%q: %q repeated", spec, x)
			}
			seen[x] = true
			if n, err := v[ident].Normalize(x); err != nil || n != x {
				t.Fatalf("%q: value %q is not canonical (%q, %v)", spec, x, n, err)
			}
		}
	})
}

func TestParseValues(t *testing.T) {
	v, _ := jobid.ParseValidations([]byte(`{"d": {"type": "date"}, "n": {"type": "int"}}`))
	for _, tc := range []struct{ ident, spec, want, err string }{
		{"n", "1..3,2,07", "1 2 3 7", ""},
		{"d", "20140228..20140302", "20140228 20140301 20140302", ""},
		{"s", "a,b", "a b", ""},
		{"s", "1..2", "1 2", ""},
		{"s", "a..b", "", "ranges need integers or dates"},
		{"n", "1..x", "", `"x" is not an integer`},
		{"n", "", "", "empty value"},
		{"n", "200130..20140202", "", "has more than 100 values"},
	} {
		got, err := ParseValues(v[tc.ident], tc.spec, 100)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s=%s: err %v, want %q", tc.ident, tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%s=%s: %q %v, want %q", tc.ident, tc.spec, got, err, tc.want)
		}
	}
}
