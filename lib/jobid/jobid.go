// Package jobid parses and formats job ids under an app's template, and
// normalizes identifier values by the rules of the validations file.
//
// A template is identifiers in braces separated by the delimiter, with
// optional literal text before the first and after the last:
// "{date}_{client_id}_{collection_name}". Parsing splits at the first
// delimiter after each identifier but the last, so the last identifier takes
// any extra delimiters ("20140601_876_profile_extra" gives collection_name
// "profile_extra"), as in the original Stolos.
package jobid

import (
	"errors"
	"fmt"
	"strings"
)

// Template is a parsed job id template.
type Template struct {
	Text   string   // as written
	Idents []string // identifier names, in order
	Delim  string
	prefix string // literal text before the first identifier
	suffix string // literal text after the last
}

// ParseTemplate parses a template whose identifiers are separated by delim.
func ParseTemplate(text, delim string) (*Template, error) {
	if delim == "" {
		return nil, errors.New("empty job id delimiter")
	}
	t := &Template{Text: text, Delim: delim}
	rest := text
	var lits []string
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			if strings.IndexByte(rest, '}') >= 0 {
				return nil, fmt.Errorf("template %q: unmatched '}'", text)
			}
			lits = append(lits, rest)
			break
		}
		if strings.IndexByte(rest[:open], '}') >= 0 {
			return nil, fmt.Errorf("template %q: unmatched '}'", text)
		}
		lits = append(lits, rest[:open])
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("template %q: unclosed '{'", text)
		}
		name := rest[open+1 : open+end]
		if !validIdent(name) {
			return nil, fmt.Errorf("template %q: bad identifier name %q", text, name)
		}
		for _, have := range t.Idents {
			if have == name {
				return nil, fmt.Errorf("template %q: identifier %q appears twice", text, name)
			}
		}
		t.Idents = append(t.Idents, name)
		rest = rest[open+end+1:]
	}
	if len(t.Idents) == 0 {
		return nil, fmt.Errorf("template %q has no identifiers", text)
	}
	for i := 1; i < len(lits)-1; i++ {
		if lits[i] != delim {
			return nil, fmt.Errorf("template %q: identifiers must be separated by the delimiter %q, not %q", text, delim, lits[i])
		}
	}
	t.prefix, t.suffix = lits[0], lits[len(lits)-1]
	if strings.ContainsAny(text, "\t\n\r") {
		return nil, fmt.Errorf("template %q holds a tab or newline", text)
	}
	return t, nil
}

func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// Index returns the position of identifier name, or -1.
func (t *Template) Index(name string) int {
	for i, n := range t.Idents {
		if n == name {
			return i
		}
	}
	return -1
}

// Has reports whether the template uses identifier name.
func (t *Template) Has(name string) bool { return t.Index(name) >= 0 }

// Split cuts a job id into raw identifier values, without validating them.
func (t *Template) Split(id string) ([]string, error) {
	rest, ok := strings.CutPrefix(id, t.prefix)
	if !ok {
		return nil, fmt.Errorf("does not start with %q", t.prefix)
	}
	rest, ok = strings.CutSuffix(rest, t.suffix)
	if !ok {
		return nil, fmt.Errorf("does not end with %q", t.suffix)
	}
	vals := make([]string, len(t.Idents))
	for i := 0; i < len(t.Idents)-1; i++ {
		v, r, ok := strings.Cut(rest, t.Delim)
		if !ok {
			return nil, fmt.Errorf("has %d of the %d parts the template needs", i+1, len(t.Idents))
		}
		vals[i], rest = v, r
	}
	vals[len(vals)-1] = rest
	return vals, nil
}

// AppendFormat appends the job id made of vals (in template order) to b.
func (t *Template) AppendFormat(b []byte, vals []string) []byte {
	b = append(b, t.prefix...)
	for i, v := range vals {
		if i > 0 {
			b = append(b, t.Delim...)
		}
		b = append(b, v...)
	}
	return append(b, t.suffix...)
}

// Format returns the job id made of vals, in template order. It fails when
// a value would not parse back: a value other than the last that holds the
// delimiter.
func (t *Template) Format(vals []string) (string, error) {
	if len(vals) != len(t.Idents) {
		return "", fmt.Errorf("template %q needs %d values, got %d", t.Text, len(t.Idents), len(vals))
	}
	for i, v := range vals {
		if err := t.CheckValue(i, v); err != nil {
			return "", err
		}
	}
	return string(t.AppendFormat(nil, vals)), nil
}

// CheckValue fails when v, the value of identifier i, would not parse back
// from a job id: a value other than the last that holds the delimiter.
func (t *Template) CheckValue(i int, v string) error {
	if i < len(t.Idents)-1 && strings.Contains(v, t.Delim) {
		return fmt.Errorf("%s value %q holds the delimiter %q", t.Idents[i], v, t.Delim)
	}
	return nil
}

// Parser parses job ids of one app: a template plus the rules of its
// identifiers.
type Parser struct {
	T     *Template
	Rules []*Rule // per identifier; nil means a plain string
}

// NewParser binds a template to the rules of a validations set.
func NewParser(t *Template, v Validations) *Parser {
	p := &Parser{T: t, Rules: make([]*Rule, len(t.Idents))}
	for i, name := range t.Idents {
		p.Rules[i] = v[name]
	}
	return p
}

// Parse splits and normalizes a job id. The error says what is wrong,
// without naming the app (callers add that).
func (p *Parser) Parse(id string) ([]string, error) {
	vals, err := p.T.Split(id)
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		n, err := p.Rules[i].Normalize(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", p.T.Idents[i], err)
		}
		vals[i] = n
	}
	return vals, nil
}

// Canonical parses a job id and formats it back: "20140601_0876_profile"
// becomes "20140601_876_profile".
func (p *Parser) Canonical(id string) (string, []string, error) {
	vals, err := p.Parse(id)
	if err != nil {
		return "", nil, err
	}
	s, err := p.T.Format(vals)
	return s, vals, err
}

// Normalize normalizes one value of identifier i.
func (p *Parser) Normalize(i int, raw string) (string, error) {
	return p.Rules[i].Normalize(raw)
}

// Seq is an ordered sequence of values: held (List) or computed (Span).
type Seq interface {
	Len() int
	At(i int) string
}

// List is a Seq of values held in memory.
type List []string

// Len is the number of values.
func (l List) Len() int { return len(l) }

// At returns value i.
func (l List) At(i int) string { return l[i] }

// One is a Seq of one value, used through a pointer (*One)(&s), which
// converts to a Seq without allocating.
type One string

// Len is 1.
func (o *One) Len() int { return 1 }

// At returns the value.
func (o *One) At(int) string { return string(*o) }

// Product calls fn with every combination of one value from each sequence,
// in order, the last varying fastest (the cross product in template order).
// vals is reused between calls. It stops when fn returns false, and calls
// nothing when a sequence is empty. Nothing is expanded: a sequence's
// values are asked for one at a time.
func Product(seqs []Seq, fn func(vals []string) bool) {
	for _, l := range seqs {
		if l.Len() == 0 {
			return
		}
	}
	idx := make([]int, len(seqs))
	vals := make([]string, len(seqs))
	for i, l := range seqs {
		vals[i] = l.At(0)
	}
	for {
		if !fn(vals) {
			return
		}
		i := len(seqs) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < seqs[i].Len() {
				vals[i] = seqs[i].At(idx[i])
				break
			}
			idx[i] = 0
			vals[i] = seqs[i].At(0)
		}
		if i < 0 {
			return
		}
	}
}
