package jobid

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"
)

func dateRule(t testing.TB, layout string) *Rule {
	r := &Rule{Type: "date", Layout: layout}
	if err := r.compile(); err != nil {
		t.Fatal(err)
	}
	return r
}

// naive lists the values of a span by stepping from lo, the way ranges
// were expanded before spans: the oracle of the tests below.
func naive(r *Rule, lo, hi string, step int64, inclusive bool, limit int) []string {
	var out []string
	if r.IsDate() {
		a, _ := r.Date(lo)
		b, _ := r.Date(hi)
		for d := a; (d.Before(b) || inclusive && d.Equal(b)) && len(out) < limit; d = d.AddDate(0, 0, int(step)) {
			out = append(out, d.Format(r.Layout))
			if step > 10_000_000 { // past year 9999: one value (AddDate would wrap)
				break
			}
		}
		return out
	}
	a, _ := strconv.ParseInt(lo, 10, 64)
	b, _ := strconv.ParseInt(hi, 10, 64)
	for n := big.NewInt(a); len(out) < limit; n.Add(n, big.NewInt(step)) {
		if c := n.Cmp(big.NewInt(b)); c > 0 || c == 0 && !inclusive {
			break
		}
		out = append(out, n.String())
	}
	return out
}

// checkSpan compares a span with the naive expansion: length, every value
// in order, membership of each and of the values around each.
func checkSpan(t *testing.T, r *Rule, lo, hi string, step int64, inclusive bool) {
	t.Helper()
	s, err := r.Span(lo, hi, step, inclusive)
	if err != nil {
		t.Fatalf("%s..%s step %d: %v", lo, hi, step, err)
	}
	want := naive(r, lo, hi, step, inclusive, 10_000)
	if s.Len() != len(want) {
		t.Fatalf("%s..%s step %d inclusive %v: Len %d, want %d", lo, hi, step, inclusive, s.Len(), len(want))
	}
	in := map[string]bool{}
	for i, w := range want {
		if got := s.At(i); got != w {
			t.Fatalf("%s..%s step %d: At(%d) = %q, want %q", lo, hi, step, i, got, w)
		}
		in[w] = true
	}
	probes := []string{lo, hi, "0", "-1", "x", "", "00", "+1", "-0", "9223372036854775807", "-9223372036854775808"}
	for _, w := range want {
		if r.IsDate() {
			d, _ := r.Date(w)
			probes = append(probes, w, d.AddDate(0, 0, 1).Format(r.Layout), d.AddDate(0, 0, -1).Format(r.Layout))
		} else {
			n, _ := strconv.ParseInt(w, 10, 64)
			probes = append(probes, w, "0"+w, strconv.FormatInt(n+1, 10), strconv.FormatInt(n-1, 10))
		}
	}
	for _, p := range probes {
		if got := s.Has(p); got != in[p] {
			t.Errorf("%s..%s step %d inclusive %v: Has(%q) = %v, want %v", lo, hi, step, inclusive, p, got, in[p])
		}
	}
}

func TestSpan(t *testing.T) {
	date := dateRule(t, "20060102")
	for _, tc := range []struct {
		r         *Rule
		lo, hi    string
		step      int64
		inclusive bool
	}{
		{nil, "10", "20", 2, false},
		{nil, "10", "20", 2, true},
		{nil, "10", "21", 2, false},
		{nil, "10", "21", 2, true},
		{nil, "5", "5", 1, false},
		{nil, "5", "5", 1, true},
		{nil, "6", "5", 1, true},
		{nil, "-2", "1", 1, true},
		{nil, "-2", "1", 3, false},
		{nil, "0", "1000", 7, false},
		{nil, "0", "1", 1 << 62, false},
		{nil, "9223372036854775800", "9223372036854775807", 1, true},
		{nil, "9223372036854775800", "9223372036854775807", 3, true},
		{nil, "-9223372036854775808", "-9223372036854775800", 2, true},
		{&Rule{Type: "int"}, "0", "3", 1, false},
		{date, "20150130", "20150202", 1, false},
		{date, "20151230", "20160102", 1, true},
		{date, "20150101", "20150105", 1, false},
		{date, "20150101", "20150105", 1, true},
		{date, "20150101", "20150105", 2, false},
		{date, "20150101", "20150105", 2, true},
		{date, "20150101", "20150105", 3, true},
		{date, "20150105", "20150101", 1, true},
		{date, "20150101", "20150101", 1, false},
		{date, "20150101", "20150101", 1, true},
		{date, "20000101", "20010101", 30, false},
		{date, "20000101", "20010101", math.MaxInt64, true},
	} {
		checkSpan(t, tc.r, tc.lo, tc.hi, tc.step, tc.inclusive)
	}
	// A layout with a time of day: only values at lo's time of day.
	hours := dateRule(t, "2006010215")
	checkSpan(t, hours, "2015010105", "2015010405", 1, false)
	checkSpan(t, hours, "2015010105", "2015010406", 1, false)
	checkSpan(t, hours, "2015010105", "2015010404", 1, true)
}

// A span of a million values, or of every int64, costs its bounds only:
// its length and membership are answered without expanding it.
func TestSpanLarge(t *testing.T) {
	s, err := (*Rule)(nil).Span("0", "1000000", 1, false)
	if err != nil || s.Len() != 1_000_000 || s.At(999_999) != "999999" || !s.Has("999999") || s.Has("1000000") {
		t.Fatalf("0..1000000: %v %d", err, s.Len())
	}
	s, err = (*Rule)(nil).Span("0", "9223372036854775807", 1, false)
	if err != nil || s.Len() != math.MaxInt64 || !s.Has("9223372036854775806") || s.Has("9223372036854775807") {
		t.Fatalf("0..MaxInt64: %v", err)
	}
	if _, err := (*Rule)(nil).Span("-9223372036854775808", "9223372036854775807", 1, true); err == nil || err.Error() != "range -9223372036854775808..9223372036854775807 has too many values" {
		t.Errorf("every int64: %v", err)
	}
	if _, err := (*Rule)(nil).Span("1", "2", 0, false); err == nil || err.Error() != "step 0 is not positive" {
		t.Errorf("step 0: %v", err)
	}
	if _, err := (*Rule)(nil).Span("1", "x", 1, false); err == nil || err.Error() != `range bound "x" is not an integer` {
		t.Errorf("bad bound: %v", err)
	}
	if _, err := dateRule(t, "20060102").Span("20150101", "2015", 1, false); err == nil || err.Error() != `"2015" is not a date of layout "20060102"` {
		t.Errorf("bad date: %v", err)
	}
}

func BenchmarkSpanHas(b *testing.B) {
	s, err := (*Rule)(nil).Span("0", "1000000", 3, false)
	if err != nil {
		b.Fatal(err)
	}
	d, err := dateRule(b, "20060102").Span("20000101", "20300101", 1, false)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("int", func(b *testing.B) {
		for range b.N {
			if !s.Has("999999") {
				b.Fatal("999999")
			}
		}
	})
	b.Run("date", func(b *testing.B) {
		for range b.N {
			if !d.Has("20150601") {
				b.Fatal("20150601")
			}
		}
	})
}

// FuzzSpan: a span agrees with the naive expansion (small spans whole,
// large ones at their ends and middle), for integers and for days.
func FuzzSpan(f *testing.F) {
	f.Add(false, "10", "20", int64(2), false, "12")
	f.Add(false, "-5", "5", int64(3), true, "4")
	f.Add(false, "0", "9223372036854775807", int64(1), true, "9223372036854775807")
	f.Add(true, "20150101", "20150301", int64(7), false, "20150115")
	f.Add(true, "20151230", "20160102", int64(1), true, "20160101")
	date := dateRule(f, "20060102")
	f.Fuzz(func(t *testing.T, isDate bool, lo, hi string, step int64, inclusive bool, probe string) {
		r := (*Rule)(nil)
		if isDate {
			r = date
		}
		s, err := r.Span(lo, hi, step, inclusive)
		if err != nil {
			if err.Error() == "" || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q", err)
			}
			return
		}
		n := s.Len()
		if n < 0 {
			t.Fatalf("Len %d", n)
		}
		if n <= 10_000 {
			want := naive(r, lo, hi, step, inclusive, 10_001)
			if n != len(want) {
				t.Fatalf("%s..%s step %d inclusive %v: Len %d, want %d", lo, hi, step, inclusive, n, len(want))
			}
			in := false
			for i, w := range want {
				if s.At(i) != w || !s.Has(w) {
					t.Fatalf("%s..%s step %d: At(%d) = %q, want %q (Has %v)", lo, hi, step, i, s.At(i), w, s.Has(w))
				}
				in = in || w == probe
			}
			if s.Has(probe) != in {
				t.Fatalf("%s..%s step %d inclusive %v: Has(%q) = %v, want %v", lo, hi, step, inclusive, probe, s.Has(probe), in)
			}
			return
		}
		// Large: the ends and the middle are members, and in order.
		var prev string
		for _, i := range []int{0, 1, n / 2, n - 2, n - 1} {
			v := s.At(i)
			if !s.Has(v) {
				t.Fatalf("%s..%s step %d: At(%d) = %q is not a member", lo, hi, step, i, v)
			}
			if prev != "" && !less(r, prev, v) {
				t.Fatalf("%s..%s step %d: %q before %q", lo, hi, step, prev, v)
			}
			prev = v
		}
		// hi may be written in another form than the values ("010000"):
		// compare by value.
		if last := s.At(n - 1); less(r, hi, last) || !inclusive && !less(r, last, hi) {
			t.Fatalf("%s..%s step %d: last value %q past the end", lo, hi, step, last)
		}
	})
}

// less compares two canonical values of r.
func less(r *Rule, a, b string) bool {
	if r.IsDate() {
		x, _ := time.Parse(r.Layout, a)
		y, _ := time.Parse(r.Layout, b)
		return x.Before(y)
	}
	x, _ := strconv.ParseInt(a, 10, 64)
	y, _ := strconv.ParseInt(b, 10, 64)
	return x < y
}

// A date layout must name a day: one without the day of the month would
// make a span of days repeat its values ("201401" 31 times).
func TestDateLayouts(t *testing.T) {
	for layout, want := range map[string]string{
		"20060102":   "",
		"2006-01-02": "",
		"2006010215": "",
		"200601":     `d: layout "200601" does not name a calendar day (write Go layouts such as "20060102")`,
		"2006":       `d: layout "2006" does not name a calendar day (write Go layouts such as "20060102")`,
		"15:04":      `d: layout "15:04" does not name a calendar day (write Go layouts such as "20060102")`,
	} {
		_, err := ParseValidations([]byte(`{"d": {"type": "date", "layout": "` + layout + `"}}`))
		if got := fmt.Sprint(err); want == "" && err != nil || want != "" && got != want {
			t.Errorf("layout %q: %v, want %q", layout, err, want)
		}
	}
}
