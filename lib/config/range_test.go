package config

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stolos-sched/stolos/lib/jobid"
)

const rangeRules = `{"n": {"type": "int"}, "d": {"type": "date"}, "s": {"type": "string", "pattern": "^[0-9]+$"}}`

// loadAutofill loads one app {n}_{d}_{s}_{u} whose autofill_values for
// ident is spec (a JSON value) and returns those values.
func loadAutofill(t testing.TB, ident, spec string) (*Values, error) {
	t.Helper()
	v, err := jobid.ParseValidations([]byte(rangeRules))
	if err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`{"a": {"job_id": "{n}_{d}_{s}_{u}", "autofill_values": {%q: %s}}}`, ident, spec)
	c, err := Parse([]byte(doc), Options{Validations: v})
	if err != nil {
		return nil, err
	}
	return c.App("a").Autofill[ident], nil
}

func TestAutofillValues(t *testing.T) {
	for _, tc := range []struct {
		ident, spec string
		want        string // the values, space-separated
		in, out     string // values that are members, and values that are not
	}{
		{"n", `"10:20:2"`, "10 12 14 16 18", "10 18", "11 20 8 010 +10 x"},
		{"n", `"5:5"`, "", "", "5 4"},
		{"n", `"7:3"`, "", "", "3 7 5"},
		{"n", `"0:3"`, "0 1 2", "0 2", "3 -0 00"},
		{"u", `"8:11"`, "8 9 10", "8 10", "11 08"}, // no rule: the integers as strings
		{"d", `"20150101:20150105"`, "20150101 20150102 20150103 20150104", "20150101 20150104", "20150105 20141231 2015010"},
		{"d", `"20150130:20150203:2"`, "20150130 20150201", "20150201", "20150131 20150202"},
		{"n", `[3, 1, 3, "2", "01"]`, "3 1 2", "1 2 3", "01 4"},
		{"n", `[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1]`, "1 2 3 4 5 6 7 8 9 10", "1 10", "0 11"}, // a long list: hashed
		{"n", `[]`, "", "", "0"},
	} {
		v, err := loadAutofill(t, tc.ident, tc.spec)
		if err != nil {
			t.Errorf("%s %s: %v", tc.ident, tc.spec, err)
			continue
		}
		if got := strings.Join(v.List(), " "); got != tc.want || v.Len() != len(strings.Fields(tc.want)) {
			t.Errorf("%s %s: values %q (Len %d), want %q", tc.ident, tc.spec, got, v.Len(), tc.want)
		}
		for _, s := range strings.Fields(tc.in) {
			if !v.Has(s) {
				t.Errorf("%s %s: Has(%q) false", tc.ident, tc.spec, s)
			}
		}
		for _, s := range strings.Fields(tc.out) {
			if v.Has(s) {
				t.Errorf("%s %s: Has(%q) true", tc.ident, tc.spec, s)
			}
		}
	}
}

func TestAutofillRangeErrors(t *testing.T) {
	for _, tc := range []struct{ ident, spec, err string }{
		{"n", `"5:x"`, `app a: autofill_values.n: range "5:x": "x" is not a non-negative integer`},
		{"n", `"5"`, `app a: autofill_values.n: range "5": want "min:max" or "min:max:step"`},
		{"n", `"1:2:3:4"`, `app a: autofill_values.n: range "1:2:3:4": want "min:max" or "min:max:step"`},
		{"n", `"1:5:0"`, `app a: autofill_values.n: range "1:5:0": step must be a positive integer`},
		{"n", `"-1:5"`, `app a: autofill_values.n: range "-1:5": "-1" is not a non-negative integer`},
		{"n", `"1:99999999999999999999"`, `app a: autofill_values.n: range "1:99999999999999999999": range bound "99999999999999999999" is not an integer`},
		{"d", `"20150101:20151301"`, `app a: autofill_values.d: range "20150101:20151301": "20151301" is not a date of layout "20060102"`},
		{"s", `"1:5"`, `app a: autofill_values.s: range "1:5": s values must match "^[0-9]+$", which a range cannot promise for every value: list the values, or give s type int`},
	} {
		_, err := loadAutofill(t, tc.ident, tc.spec)
		if err == nil || err.Error() != tc.err {
			t.Errorf("%s %s: error %v\nwant %s", tc.ident, tc.spec, err, tc.err)
		}
	}
}

// Loading a range costs the same whatever its size: it is kept as its
// bounds, never expanded (issue 8 item 3). Allocations, not time, prove it.
func TestRangeNotExpanded(t *testing.T) {
	v, err := jobid.ParseValidations([]byte(rangeRules))
	if err != nil {
		t.Fatal(err)
	}
	allocs := func(n, d string) float64 {
		doc := []byte(`{"a": {"job_id": "{n}_{d}", "autofill_values": {"n": "` + n + `", "d": "` + d + `"}}}`)
		if _, err := Parse(doc, Options{Validations: v}); err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(10, func() { Parse(doc, Options{Validations: v}) })
	}
	small := allocs("0:10", "20000101:20000111")
	large := allocs("0:1000000000", "00010101:99991231")
	if small != large {
		t.Errorf("loading ranges: %v allocations for 10 values each, %v for a billion and 3.65 million: ranges are expanded", small, large)
	}
}

// BenchmarkLoad loads the examples, and the examples with an unrelated app
// of a million autofill values: the two should cost the same.
func BenchmarkLoad(b *testing.B) {
	dir := filepath.Join("..", "..", "testdata", "examples")
	data, err := os.ReadFile(filepath.Join(dir, "tasks.json"))
	if err != nil {
		b.Fatal(err)
	}
	vdata, err := os.ReadFile(filepath.Join(dir, "validations.json"))
	if err != nil {
		b.Fatal(err)
	}
	v, err := jobid.ParseValidations(vdata)
	if err != nil {
		b.Fatal(err)
	}
	end := strings.LastIndexByte(string(data), '}')
	big := string(data[:end]) + `, "unrelated_big": {"job_id": "{date}_{client_id}", "autofill_values": {"client_id": "0:1000000"}}}`
	opts := Options{DefaultTemplate: "{date}_{client_id}_{collection_name}", Validations: v}
	for _, bc := range []struct {
		name string
		doc  []byte
	}{{"examples", data}, {"examples+1M", []byte(big)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				c, err := Parse(bc.doc, opts)
				if err != nil {
					b.Fatal(err)
				}
				if c.App("app4") == nil {
					b.Fatal("no app4")
				}
			}
		})
	}
}

// FuzzAutofillRange: an autofill range that loads holds exactly the
// integers min, min+step, ... below max, by an independent reckoning in
// big integers: its length, its values at the ends and the middle, and the
// membership of any probe.
func FuzzAutofillRange(f *testing.F) {
	for _, s := range []string{"10:20:2", "5:5", "7:3", "0:1000000", "0:9223372036854775807", "0:9223372036854775807:4611686018427387904", "1:x", "00:010", "1:2:3:4", ":"} {
		f.Add(s, "12")
	}
	f.Fuzz(func(t *testing.T, spec, probe string) {
		js, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		v, err := loadAutofill(t, "n", string(js))
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "app a: autofill_values.n: ") || strings.Contains(msg, "\n") {
				t.Fatalf("%q: error %q", spec, msg)
			}
			return
		}
		parts := strings.Split(spec, ":")
		lo, _ := new(big.Int).SetString(parts[0], 10)
		hi, _ := new(big.Int).SetString(parts[1], 10)
		step := big.NewInt(1)
		if len(parts) == 3 {
			step.SetString(parts[2], 10)
		}
		// Length: ceil((hi-lo)/step), or 0.
		n := new(big.Int).Sub(hi, lo)
		if n.Sign() <= 0 {
			n.SetInt64(0)
		} else {
			n.Add(n, step).Sub(n, big.NewInt(1)).Quo(n, step)
		}
		if !n.IsInt64() || int64(v.Len()) != n.Int64() {
			t.Fatalf("%q: Len %d, want %s", spec, v.Len(), n)
		}
		value := func(i int) string {
			x := new(big.Int).Mul(big.NewInt(int64(i)), step)
			return x.Add(x, lo).String()
		}
		for _, i := range []int{0, 1, v.Len() / 2, v.Len() - 2, v.Len() - 1} {
			if i < 0 || i >= v.Len() {
				continue
			}
			if got := v.At(i); got != value(i) || !v.Has(got) {
				t.Fatalf("%q: At(%d) = %q, want %s (Has %v)", spec, i, got, value(i), v.Has(got))
			}
		}
		// A probe is a member when it is a canonical integer in range on a step.
		p, ok := new(big.Int).SetString(probe, 10)
		want := ok && p.String() == probe && p.Cmp(lo) >= 0 && p.Cmp(hi) < 0
		if want {
			off := new(big.Int).Sub(p, lo)
			want = off.Mod(off, step).Sign() == 0
		}
		if v.Has(probe) != want {
			t.Fatalf("%q: Has(%q) = %v, want %v", spec, probe, v.Has(probe), want)
		}
	})
}
