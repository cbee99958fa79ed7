package jobid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Rule says how values of one identifier are checked and normalized.
type Rule struct {
	Type    string // "int", "date" or "string"
	Layout  string // date: a Go time layout
	Pattern string // string: an optional regular expression the value must match
	re      *regexp.Regexp
}

// Validations maps identifier names to rules. Identifiers without a rule
// are plain strings.
type Validations map[string]*Rule

// DefaultDateLayout is the layout of a date rule that names none.
const DefaultDateLayout = "20060102"

// ParseValidations reads a validations file:
//
//	{"date": {"type": "date", "layout": "20060102"}, "client_id": {"type": "int"},
//	 "collection_name": {"type": "string", "pattern": "^(client|profile)"}}
func ParseValidations(data []byte) (Validations, error) {
	var raw map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not a JSON object of rules: %v", err)
	}
	if d.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	v := make(Validations, len(raw))
	for name, msg := range raw {
		if !validIdent(name) {
			return nil, fmt.Errorf("bad identifier name %q", name)
		}
		var r Rule
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&struct {
			Type    *string `json:"type"`
			Layout  *string `json:"layout"`
			Pattern *string `json:"pattern"`
		}{&r.Type, &r.Layout, &r.Pattern}); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		if err := r.compile(); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		v[name] = &r
	}
	return v, nil
}

func (r *Rule) compile() error {
	switch r.Type {
	case "int":
		if r.Layout != "" || r.Pattern != "" {
			return errors.New(`type "int" takes no layout or pattern`)
		}
	case "date":
		if r.Pattern != "" {
			return errors.New(`type "date" takes no pattern`)
		}
		if r.Layout == "" {
			r.Layout = DefaultDateLayout
		}
		// A layout must round-trip a day, or it cannot name one: two
		// probes, as a layout without the day of the month ("200601")
		// round-trips the first of the month.
		for _, probe := range []time.Time{time.Date(2014, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2014, 11, 17, 0, 0, 0, 0, time.UTC)} {
			if back, err := time.Parse(r.Layout, probe.Format(r.Layout)); err != nil || !back.Equal(probe) {
				return fmt.Errorf("layout %q does not name a calendar day (write Go layouts such as \"20060102\")", r.Layout)
			}
		}
	case "string":
		if r.Layout != "" {
			return errors.New(`type "string" takes no layout`)
		}
		if r.Pattern != "" {
			re, err := regexp.Compile(r.Pattern)
			if err != nil {
				return fmt.Errorf("bad pattern %q: %v", r.Pattern, err)
			}
			r.re = re
		}
	case "":
		return errors.New(`missing "type" (int, date or string)`)
	default:
		return fmt.Errorf("unknown type %q (want int, date or string)", r.Type)
	}
	return nil
}

// Normalize checks a raw value and returns its canonical form. A nil rule
// accepts any non-empty value without tab or newline.
func (r *Rule) Normalize(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("empty value")
	}
	if strings.ContainsAny(raw, "\t\n\r") {
		return "", fmt.Errorf("%q holds a tab or newline", raw)
	}
	if r == nil {
		return raw, nil
	}
	switch r.Type {
	case "int":
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return "", fmt.Errorf("%q is not an integer", raw)
		}
		return strconv.FormatInt(n, 10), nil
	case "date":
		t, err := r.Date(raw)
		if err != nil {
			return "", err
		}
		return t.Format(r.Layout), nil
	default:
		if r.re != nil && !r.re.MatchString(raw) {
			return "", fmt.Errorf("%q does not match %q", raw, r.Pattern)
		}
		return raw, nil
	}
}

// Date parses a value of a date rule.
func (r *Rule) Date(raw string) (time.Time, error) {
	t, err := time.Parse(r.Layout, raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date of layout %q", raw, r.Layout)
	}
	return t, nil
}

// IsDate reports whether values of the rule are calendar days.
func (r *Rule) IsDate() bool { return r != nil && r.Type == "date" }

// IsInt reports whether values of the rule are integers.
func (r *Rule) IsInt() bool { return r != nil && r.Type == "int" }

// Span is an arithmetic sequence of values of one rule: the integers lo,
// lo+step, ... or, for a date rule, the calendar days lo, lo+step days, ...
// It holds its bounds only: its length, its i-th value and whether it holds
// a value are computed, so a span of a million values costs what a span of
// ten does until someone iterates it.
type Span struct {
	layout string    // date: the rule's layout; "" for integers
	lo     int64     // the first integer, or the first day's Unix seconds
	t0     time.Time // date: the first day
	unit   int64     // the step: in integers, or in seconds for dates
	step   int64     // the step as given (days for dates)
	n      int       // the number of values
}

// Span returns the range lo..hi of integers, or of calendar days for a date
// rule, stepping by step (days for dates), hi included when inclusive. The
// bounds are checked; nothing is expanded. Values of a rule that is neither
// int nor date are the integers in canonical decimal.
func (r *Rule) Span(lo, hi string, step int64, inclusive bool) (*Span, error) {
	if step <= 0 {
		return nil, fmt.Errorf("step %d is not positive", step)
	}
	// last is the largest offset from lo a value may have: the distance
	// from lo to hi, less one unit when hi itself is excluded; negative
	// when the span is empty.
	var last uint64
	empty := false
	s := &Span{step: step}
	if r.IsDate() {
		a, err := r.Date(lo)
		if err != nil {
			return nil, err
		}
		b, err := r.Date(hi)
		if err != nil {
			return nil, err
		}
		s.layout, s.t0, s.lo = r.Layout, a, a.Unix()
		// b - a = d seconds + frac nanoseconds, 0 <= frac < 1e9.
		d, frac := b.Unix()-a.Unix(), b.Nanosecond()-a.Nanosecond()
		if frac < 0 {
			d, frac = d-1, frac+1e9
		}
		if !inclusive && frac == 0 {
			d-- // a day exactly at hi is excluded
		}
		empty, last = d < 0, uint64(d)
		s.unit = 86400 * step
		if step > math.MaxInt64/86400 {
			s.unit = math.MaxInt64 // only the first day fits
		}
	} else {
		a, err := strconv.ParseInt(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("range bound %q is not an integer", lo)
		}
		b, err := strconv.ParseInt(hi, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("range bound %q is not an integer", hi)
		}
		s.lo, s.unit = a, step
		empty = b < a || b == a && !inclusive
		last = uint64(b) - uint64(a) // two's complement: exact when b >= a
		if !inclusive {
			last--
		}
	}
	if empty {
		return s, nil
	}
	if last/uint64(s.unit) >= math.MaxInt {
		return nil, fmt.Errorf("range %s..%s has too many values", lo, hi)
	}
	s.n = int(last/uint64(s.unit)) + 1
	return s, nil
}

// Len is the number of values.
func (s *Span) Len() int { return s.n }

// At returns value i, 0 <= i < Len(), in canonical form.
func (s *Span) At(i int) string {
	if s.layout != "" {
		return s.t0.AddDate(0, 0, int(int64(i)*s.step)).Format(s.layout)
	}
	return strconv.FormatInt(int64(uint64(s.lo)+uint64(i)*uint64(s.unit)), 10)
}

// Has reports whether v, in canonical form, is one of the values.
func (s *Span) Has(v string) bool {
	if s.n == 0 {
		return false
	}
	var buf [32]byte
	var off int64
	if s.layout != "" {
		t, err := time.Parse(s.layout, v)
		if err != nil || t.Nanosecond() != s.t0.Nanosecond() || string(t.AppendFormat(buf[:0], s.layout)) != v {
			return false
		}
		off = t.Unix() - s.lo
		if off < 0 {
			return false
		}
	} else {
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil || x < s.lo || string(strconv.AppendInt(buf[:0], x, 10)) != v {
			return false
		}
		off = int64(uint64(x) - uint64(s.lo))
		if off < 0 { // more than MaxInt64 above lo: past any span
			return false
		}
	}
	return off%s.unit == 0 && off/s.unit < int64(s.n)
}

// Range expands an inclusive range lo..hi of integers, or of calendar days
// for a date rule, stepping by step (days for dates), into canonical values
// (checked by the rule, so a string rule's pattern applies to each).
// max bounds the number of values (a range larger than that is an error).
func (r *Rule) Range(lo, hi string, step int64, inclusive bool, max int) ([]string, error) {
	s, err := r.Span(lo, hi, step, inclusive)
	if err != nil {
		return nil, err
	}
	if s.Len() > max {
		return nil, fmt.Errorf("range %s..%s has more than %d values", lo, hi, max)
	}
	out := make([]string, s.Len())
	for i := range out {
		if out[i], err = r.Normalize(s.At(i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}
