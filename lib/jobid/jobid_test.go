package jobid

import (
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	for _, tc := range []struct {
		text, delim string
		idents      string
		err         string
	}{
		{"{date}_{client_id}_{collection_name}", "_", "date client_id collection_name", ""},
		{"job-{date}", "_", "date", ""},
		{"{a}-{b}", "-", "a b", ""},
		{"{a}-{b}", "_", "", `identifiers must be separated by the delimiter "_", not "-"`},
		{"{a}{b}", "_", "", `not ""`},
		{"{a}_{a}", "_", "", `identifier "a" appears twice`},
		{"{a", "_", "", "unclosed '{'"},
		{"a}", "_", "", "unmatched '}'"},
		{"{}", "_", "", `bad identifier name ""`},
		{"{1a}", "_", "", `bad identifier name "1a"`},
		{"plain", "_", "", "has no identifiers"},
		{"{a}\t", "_", "", "tab or newline"},
		{"{a}", "", "", "empty job id delimiter"},
	} {
		tm, err := ParseTemplate(tc.text, tc.delim)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.text, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.text, err)
			continue
		}
		if got := strings.Join(tm.Idents, " "); got != tc.idents {
			t.Errorf("%q: idents %q, want %q", tc.text, got, tc.idents)
		}
	}
}

// The original's parse cases (ORIGINAL.md 2.2, 8.1 test_job_id_validations
// and test_missing_job_id_validations_okay).
func TestParse(t *testing.T) {
	v, err := ParseValidations([]byte(`{"date": {"type": "date", "layout": "20060102"}, "client_id": {"type": "int"},
		"collection_name": {"type": "string", "pattern": "^(client|profile|purchase|content)"}}`))
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := ParseTemplate("{date}_{client_id}_{collection_name}", "_")
	p := NewParser(tm, v)
	for _, tc := range []struct{ id, want, err string }{
		{"20140601_876_profile", "20140601 876 profile", ""},
		{"20140601_0876_profile", "20140601 876 profile", ""},
		{"20140601_876_profile_extra_stuff", "20140601 876 profile_extra_stuff", ""},
		{"20140606_1111_", "", "collection_name: empty value"},
		{"20140606_11aa_profile", "", `client_id: "11aa" is not an integer`},
		{"20149606_1_profile", "", `date: "20149606" is not a date`},
		{"20140606_1_Profile", "", `does not match`},
		{"20140606_1", "", "has 2 of the 3 parts"},
	} {
		vals, err := p.Parse(tc.id)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.id, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(vals, " ") != tc.want {
			t.Errorf("%q: %q %v, want %q", tc.id, vals, err, tc.want)
		}
	}
	// An identifier without a rule is a plain string.
	tm2, _ := ParseTemplate("{date}_{client_id}_{unvalidated_field}", "_")
	vals, err := NewParser(tm2, v).Parse("20130101_876_equal2me")
	if err != nil || strings.Join(vals, " ") != "20130101 876 equal2me" {
		t.Errorf("unvalidated: %q %v", vals, err)
	}
}

func TestRange(t *testing.T) {
	date := &Rule{Type: "date"}
	if err := date.compile(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r         *Rule
		lo, hi    string
		step      int64
		inclusive bool
		want      string
	}{
		{nil, "10", "20", 2, false, "10 12 14 16 18"},
		{nil, "5", "5", 1, false, ""},
		{nil, "5", "5", 1, true, "5"},
		{nil, "-2", "1", 1, true, "-2 -1 0 1"},
		{date, "20150130", "20150202", 1, false, "20150130 20150131 20150201"},
		{date, "20151230", "20160102", 1, true, "20151230 20151231 20160101 20160102"},
		{date, "20150101", "20150105", 1, false, "20150101 20150102 20150103 20150104"},
	} {
		got, err := tc.r.Range(tc.lo, tc.hi, tc.step, tc.inclusive, 1000)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%s..%s: %q %v, want %q", tc.lo, tc.hi, got, err, tc.want)
		}
	}
	if _, err := (*Rule)(nil).Range("1", "100", 1, true, 10); err == nil || !strings.Contains(err.Error(), "more than 10") {
		t.Errorf("bound: %v", err)
	}
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"{date}_{client_id}_{collection_name}", "job-{a}", "{a}{b}", "{", "}{", "{a}_{a}"} {
		f.Add(s, "_")
	}
	f.Fuzz(func(t *testing.T, text, delim string) {
		tm, err := ParseTemplate(text, delim)
		if err != nil {
			return
		}
		// Values without the delimiter round-trip through Format and Split.
		vals := make([]string, len(tm.Idents))
		for i := range vals {
			vals[i] = "v" + strings.Repeat("x", i)
		}
		if strings.Contains(strings.Join(vals, ""), delim) {
			return
		}
		id, err := tm.Format(vals)
		if err != nil {
			t.Fatalf("format %q: %v", text, err)
		}
		back, err := tm.Split(id)
		if err != nil || strings.Join(back, "\x00") != strings.Join(vals, "\x00") {
			t.Fatalf("%q: %q -> %q %v", text, vals, back, err)
		}
	})
}

func FuzzParseJobID(f *testing.F) {
	v, _ := ParseValidations([]byte(`{"date": {"type": "date"}, "client_id": {"type": "int"}}`))
	tm, _ := ParseTemplate("{date}_{client_id}_{collection_name}", "_")
	p := NewParser(tm, v)
	for _, s := range []string{"20140601_876_profile", "20140601_0876_p_q", "2014_x", "", "_ _ _", "20140601_-0_x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		canon, vals, err := p.Canonical(id)
		if err != nil {
			return
		}
		// A canonical id parses to itself with the same values.
		again, vals2, err := p.Canonical(canon)
		if err != nil || again != canon || strings.Join(vals, "\x00") != strings.Join(vals2, "\x00") {
			t.Fatalf("%q -> %q -> %q %v", id, canon, again, err)
		}
	})
}

func FuzzValidations(f *testing.F) {
	for _, s := range []string{`{"date": {"type": "date", "layout": "20060102"}}`, `{"a": {"type": "string", "pattern": "["}}`, `{"a": {"type": "int", "x": 1}}`, `[]`, `{"a": {"type": "date", "layout": "15:04"}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseValidations([]byte(s))
		if err != nil {
			return
		}
		for name, r := range v {
			if _, err := r.Normalize("20140601"); err != nil && r.Type == "string" && r.Pattern == "" {
				t.Fatalf("%s: plain string rejected a value: %v", name, err)
			}
		}
	})
}
