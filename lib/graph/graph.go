// Package graph answers the dependency questions of stolos: the parents and
// the children of a job, following the depends_on language of the original
// Stolos (ORIGINAL.md section 3) with the fixes of DESIGN.md section 5.
//
// A child job needs the parents of every dependency group it is compatible
// with (the union of the groups that apply). A group made of a list of
// subgroups applies only if every subgroup is compatible (AND). Within a
// subgroup, listed identifier values override the job's own and multiply
// (a cross product in template order); identifiers a job id lacks are
// filled from the other app's autofill_values.
//
// The two directions agree: c is among the children of p exactly when p is
// among the parents of c. (The original's get_children could miss a child
// whose parents include p, or name a child whose group does not apply;
// bubble-down would then lose or misqueue it.)
package graph

import (
	"github.com/stolos-sched/stolos/lib/config"
	"github.com/stolos-sched/stolos/lib/jobid"
)

// Rel is a related job: a parent or a child, and the dependency group that
// relates it.
type Rel struct {
	App   *config.App
	JobID string
	Group string
}

// Compatible reports whether group g of app c applies to the child job with
// values vals: for every subgroup, each identifier value of the job is
// among the subgroup's listed values for it (if any), and among the app's
// own autofill values for it unless the subgroup lists it.
func Compatible(c *config.App, g *config.Group, vals []string) bool {
	for _, s := range g.Subs {
		for i, k := range c.Template.Idents {
			v := vals[i]
			if sv := s.Values[k]; sv != nil {
				if !sv.Has(v) {
					return false
				}
			} else if ca := c.Autofill[k]; ca != nil && !ca.Has(v) {
				return false
			}
		}
	}
	return true
}

// Parents appends to out the parents of the job of app c whose parsed
// values are vals, in order: groups in file order, subgroups in order,
// parent apps in app_name order, then the cross product in template order.
// Duplicates are possible across subgroups and groups.
func Parents(out []Rel, c *config.App, vals []string) []Rel {
	var lists []jobid.Seq
	for _, g := range c.Groups {
		if !Compatible(c, g, vals) {
			continue
		}
		for _, s := range g.Subs {
			for _, p := range s.Parents {
				if s.JobIDs != nil {
					ids := s.JobIDs[p]
					for i := range ids.Len() {
						out = append(out, Rel{p, ids.At(i), g.Name})
					}
					continue
				}
				lists = fill(lists[:0], p, c, s, vals)
				out = cross(out, p, g.Name, lists, nil)
			}
		}
	}
	return out
}

// Children appends to out the children of the job of app p whose parsed
// values are vals: child apps in file order, their groups in order,
// subgroups in order, each cross product in template order.
func Children(out []Rel, p *config.App, vals []string) []Rel {
	var lists []jobid.Seq
	var id []byte
	for _, e := range p.Children {
		c, g := e.Child, e.Group
		keep := func(cvals []string) bool { return Compatible(c, g, cvals) }
		for _, s := range g.Subs {
			if !hasApp(s.Parents, p) {
				continue
			}
			if s.JobIDs != nil {
				id = p.Template.AppendFormat(id[:0], vals)
				if !s.JobIDs[p].Has(string(id)) {
					continue
				}
			} else if !parentFits(p, c, s, vals) {
				continue
			}
			lists = fill(lists[:0], c, p, s, vals)
			out = cross(out, c, g.Name, lists, keep)
		}
	}
	return out
}

// fill appends, for each identifier of app to's template, the values a
// related job of to takes through subgroup s from the job of app from with
// values vals: the subgroup's listed values, else the job's own value, else
// to's autofill values. The same rule makes parents from a child and
// children from a parent, which is why the two directions agree.
func fill(lists []jobid.Seq, to, from *config.App, s *config.Sub, vals []string) []jobid.Seq {
	for _, k := range to.Template.Idents {
		if sv := s.Values[k]; sv != nil {
			lists = append(lists, sv)
		} else if i := from.Template.Index(k); i >= 0 {
			lists = append(lists, (*jobid.One)(&vals[i]))
		} else {
			lists = append(lists, to.Autofill[k])
		}
	}
	return lists
}

// parentFits reports whether a parent job with values vals can be one that
// subgroup s of child app c generates.
func parentFits(p, c *config.App, s *config.Sub, vals []string) bool {
	for i, k := range p.Template.Idents {
		v := vals[i]
		sv := s.Values[k]
		switch {
		case sv != nil:
			if !sv.Has(v) {
				return false
			}
		case c.Template.Has(k):
			if ca := c.Autofill[k]; ca != nil && !ca.Has(v) {
				return false
			}
		default: // filled from the parent's own autofill values
			if pa := p.Autofill[k]; pa == nil || !pa.Has(v) {
				return false
			}
		}
	}
	return true
}

func hasApp(apps []*config.App, a *config.App) bool {
	for _, x := range apps {
		if x == a {
			return true
		}
	}
	return false
}

// maxHint bounds the size cross reserves for its set of ids up front.
const maxHint = 1 << 20

// cross appends the job ids of app a made of the cross product of lists
// (one list per identifier, in template order), each distinct id once,
// keeping those keep accepts (all, when keep is nil).
func cross(out []Rel, a *config.App, group string, lists []jobid.Seq, keep func([]string) bool) []Rel {
	n := 1
	for _, l := range lists {
		n = min(n*min(l.Len(), maxHint), maxHint) // both factors <= 2^20: no overflow
	}
	var seen map[string]bool
	if n > 1 {
		seen = make(map[string]bool, n)
	}
	var buf []byte
	jobid.Product(lists, func(vals []string) bool {
		if keep != nil && !keep(vals) {
			return true
		}
		buf = a.Template.AppendFormat(buf[:0], vals)
		if seen == nil {
			out = append(out, Rel{a, string(buf), group})
		} else if id := string(buf); !seen[id] {
			seen[id] = true
			out = append(out, Rel{a, id, group})
		}
		return true
	})
	return out
}

// Valid says whether a job passes its app's valid_if_or values. It returns
// needFunc when the answer depends on the app's _func command (the caller
// runs it): valid is then false unless some listed value matched.
func Valid(a *config.App, vals []string) (valid, needFunc bool) {
	v := a.ValidIfOr
	if v == nil {
		return true, false
	}
	for i, k := range a.Template.Idents {
		if l := v.Values[k]; l != nil && l.Has(vals[i]) {
			return true, false
		}
	}
	return false, v.Func != ""
}
