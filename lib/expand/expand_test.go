package expand

import (
	"strings"
	"testing"
	"time"

	"github.com/stolos-sched/stolos/lib/jobid"
)

func FuzzParseValues(f *testing.F) {
	v, _ := jobid.ParseValidations([]byte(`{"d": {"type": "date"}, "n": {"type": "int"}}`))
	for _, s := range []string{"1,2,3", "1..10", "20140130..20140202", "a,,b", "..", "1..", "9223372036854775806..9223372036854775807", "-3..-1,0",
		"today", "yesterday", "today-7..yesterday", "today+1,today-0", "today-..today", "today-3652425..today", "20140101..today-4000000"} {
		f.Add("n", s)
		f.Add("d", s)
		f.Add("s", s)
	}
	f.Fuzz(func(t *testing.T, ident, spec string) {
		if len(spec) > 200 {
			return
		}
		// A small bound: the fuzzer is after shapes, not sizes.
		vals, err := ParseValues(v[ident], spec, 10_000, fuzzToday)
		if err != nil {
			return
		}
		// A relative date is never a value of an identifier without a
		// date rule, nor left unresolved in a date's.
		for _, item := range strings.Split(spec, ",") {
			lo, hi, _ := strings.Cut(item, "..")
			for _, w := range []string{lo, hi} {
				if _, rel, _ := relDate(w); rel && ident != "d" {
					t.Fatalf("%q: relative date %q taken by identifier %q with no date rule", spec, w, ident)
				}
			}
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
		// Relative dates count from fuzzToday, 2014-03-01, in the layout.
		{"d", "today", "20140301", ""},
		{"d", "yesterday,today-1,20140228", "20140228", ""},
		{"d", "today-3..yesterday", "20140226 20140227 20140228", ""},
		{"d", "today+1..today+2,today-365", "20140302 20140303 20130301", ""},
		{"d", "yesterday..today-2", "", ""},
		{"d", "today-x", "", `"today-x": want today, yesterday, today-N or today+N`},
		{"d", "today-", "", `want today, yesterday`},
		{"d", "today+99999999999999999999", "", "more than 3652425 days from today"},
		{"d", "todays", "", `"todays" is not a date`},
		{"s", "today", "", `"today" is a relative date, but the identifier has no date rule`},
		{"n", "today-3..yesterday", "", `range "today-3..yesterday": "today-3" is a relative date`},
	} {
		got, err := ParseValues(v[tc.ident], tc.spec, 100, fuzzToday)
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

// fuzzToday is the day the tests' relative dates count from.
var fuzzToday = time.Date(2014, 3, 1, 0, 0, 0, 0, time.UTC)

func TestToday(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 23, 30, 0, 0, time.UTC) // 00:30 on the 8th in Paris
	for _, tc := range []struct {
		loc  *time.Location
		want string
	}{{time.UTC, "20261207"}, {paris, "20261208"}, {time.FixedZone("X", -12*3600), "20261207"}} {
		if got := Today(now, tc.loc).Format("20060102"); got != tc.want {
			t.Errorf("Today(%v, %v) = %s, want %s", now, tc.loc, got, tc.want)
		}
	}
}
