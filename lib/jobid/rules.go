package jobid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
		// A layout must round-trip a date, or it cannot name one.
		probe := time.Date(2014, 6, 1, 0, 0, 0, 0, time.UTC)
		if back, err := time.Parse(r.Layout, probe.Format(r.Layout)); err != nil || !back.Equal(probe) {
			return fmt.Errorf("layout %q does not name a calendar day (write Go layouts such as \"20060102\")", r.Layout)
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

// Range expands an inclusive range lo..hi of integers, or of calendar days
// for a date rule, stepping by step (days for dates), into canonical values.
// max bounds the number of values (a range larger than that is an error).
func (r *Rule) Range(lo, hi string, step int64, inclusive bool, max int) ([]string, error) {
	if step <= 0 {
		return nil, fmt.Errorf("step %d is not positive", step)
	}
	if r.IsDate() {
		a, err := r.Date(lo)
		if err != nil {
			return nil, err
		}
		b, err := r.Date(hi)
		if err != nil {
			return nil, err
		}
		var out []string
		for d := a; d.Before(b) || inclusive && d.Equal(b); d = d.AddDate(0, 0, int(step)) {
			if len(out) == max {
				return nil, fmt.Errorf("range %s..%s has more than %d values", lo, hi, max)
			}
			out = append(out, d.Format(r.Layout))
		}
		return out, nil
	}
	a, err := strconv.ParseInt(lo, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("range bound %q is not an integer", lo)
	}
	b, err := strconv.ParseInt(hi, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("range bound %q is not an integer", hi)
	}
	if !inclusive {
		b--
	}
	var out []string
	for n := a; n <= b; n += step {
		if len(out) == max {
			return nil, fmt.Errorf("range %s..%s has more than %d values", lo, hi, max)
		}
		v, err := r.Normalize(strconv.FormatInt(n, 10))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if n > b-step { // no overflow past b
			break
		}
	}
	return out, nil
}
