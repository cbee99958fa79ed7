package config

import (
	"encoding/json"
	"fmt"
	"strings"
)

// parseDependsOn reads depends_on in either shape: one unnamed group (the
// map has "app_name"), or named groups, each a map or a list of maps.
func (c *Config) parseDependsOn(a *App, raw json.RawMessage) error {
	if kind(raw) != "an object" {
		return errf(a.Name, "depends_on", "want an object, found %s", kind(raw))
	}
	ms, err := objectMembers(raw)
	if err != nil {
		return errf(a.Name, "depends_on", "%v", err)
	}
	for _, m := range ms {
		if m.Key == "app_name" {
			subs, err := c.parseSub(a, "depends_on", raw)
			if err != nil {
				return err
			}
			a.Groups = []*Group{{Name: DefaultGroup, Subs: subs}}
			return nil
		}
	}
	for _, m := range ms {
		key := "depends_on." + m.Key
		switch {
		case m.Key == DefaultGroup:
			return errf(a.Name, key, "a named group may not be called %q (that is the unnamed group's name)", DefaultGroup)
		case c.byName[m.Key] != nil:
			return errf(a.Name, key, "a group may not be named like the app %q (did you mean {\"app_name\": [%q]}?)", m.Key, m.Key)
		case m.Key == "" || strings.ContainsAny(m.Key, "\t\n\r"):
			return errf(a.Name, key, "bad group name %q", m.Key)
		}
		g := &Group{Name: m.Key}
		switch kind(m.Value) {
		case "an object":
			if g.Subs, err = c.parseSub(a, key, m.Value); err != nil {
				return err
			}
		case "a list":
			var items []json.RawMessage
			if err := json.Unmarshal(m.Value, &items); err != nil {
				return errf(a.Name, key, "%v", jsonErr(err))
			}
			if len(items) == 0 {
				return errf(a.Name, key, "an empty list of subgroups")
			}
			for i, it := range items {
				subs, err := c.parseSub(a, fmt.Sprintf("%s[%d]", key, i), it)
				if err != nil {
					return err
				}
				g.Subs = append(g.Subs, subs...)
			}
		default:
			return errf(a.Name, key, "want an object or a list of objects, found %s", kind(m.Value))
		}
		a.Groups = append(a.Groups, g)
	}
	return nil
}

// parseSub reads one subgroup map and expands "all" into one subgroup per
// parent app, in phases: the parent apps, the other members, the parent
// job ids made canonical, the expansion of "all".
func (c *Config) parseSub(a *App, key string, raw json.RawMessage) ([]*Sub, error) {
	if kind(raw) != "an object" {
		return nil, errf(a.Name, key, "want an object, found %s", kind(raw))
	}
	ms, err := objectMembers(raw)
	if err != nil {
		return nil, errf(a.Name, key, "%v", err)
	}
	s := &Sub{Values: map[string]*Values{}}
	if err := c.subParents(a, key, ms, s); err != nil {
		return nil, err
	}
	k, err := c.subMembers(a, key, ms, s)
	if err != nil {
		return nil, err
	}
	if k.hasJobIDs {
		if err := subJobIDs(a, key, k.jobIDs, s); err != nil {
			return nil, err
		}
	}
	return expandAll(a, key, k.all, s)
}

// subParents reads the subgroup's "app_name" list into s.Parents.
func (c *Config) subParents(a *App, key string, ms []member, s *Sub) error {
	hasApps := false
	for _, m := range ms {
		if m.Key == "app_name" {
			hasApps = true
			if err := c.parseParents(a, key+".app_name", m.Value, s); err != nil {
				return err
			}
		}
	}
	if !hasApps {
		return errf(a.Name, key, "no \"app_name\" list of parent apps")
	}
	return nil
}

// subKeys is what a subgroup's members say besides its parent apps and
// its identifiers' values (which go into the Sub).
type subKeys struct {
	all       []string // the identifiers whose value is "all"
	jobIDs    []string // "job_id", the parent job ids as written
	hasJobIDs bool
}

// subMembers reads the subgroup's members other than "app_name": the
// values of identifiers into s.Values, the rest into the subKeys.
func (c *Config) subMembers(a *App, key string, ms []member, s *Sub) (subKeys, error) {
	var out subKeys
	for _, m := range ms {
		k := key + "." + m.Key
		switch m.Key {
		case "app_name":
			continue
		case "job_id":
			var err error
			if out.jobIDs, err = scalars(m.Value); err != nil {
				return out, errf(a.Name, k, "%v", err)
			}
			out.hasJobIDs = true
			continue
		case "_func":
			return out, errf(a.Name, k, "two-way functions are not supported: list the values, or the parent job ids in \"job_id\"")
		}
		if !a.Template.Has(m.Key) && !anyHas(s.Parents, m.Key) {
			return out, errf(a.Name, k, "%q is an identifier of neither %s nor its parents in this group", m.Key, a.Name)
		}
		if str, ok := isString(m.Value); ok {
			if str != "all" {
				return out, errf(a.Name, k, "want a list of values or \"all\", found the string %q", str)
			}
			out.all = append(out.all, m.Key)
			continue
		}
		vals, err := scalars(m.Value)
		if err == nil {
			vals, err = c.normalize(m.Key, vals)
		}
		if err == nil {
			err = noRepeats(vals)
		}
		if err != nil {
			return out, errf(a.Name, k, "%v", err)
		}
		s.Values[m.Key] = newValues(vals)
	}
	return out, nil
}

// subJobIDs makes the parent job ids canonical for each parent app, into
// s.JobIDs.
func subJobIDs(a *App, key string, jobIDs []string, s *Sub) error {
	s.JobIDs = map[*App]*Values{}
	for _, p := range s.Parents {
		canon := make([]string, len(jobIDs))
		for i, id := range jobIDs {
			cid, _, err := p.Parser.Canonical(id)
			if err != nil {
				return errf(a.Name, key+".job_id", "%q is not a job id of %s (template %q): %v", id, p.Name, p.Template.Text, err)
			}
			canon[i] = cid
		}
		s.JobIDs[p] = newValues(canon)
	}
	return nil
}

// expandAll returns s, or with identifiers whose value is "all", one
// subgroup per parent, each "all" identifier of the parent's template
// taking the parent's autofill values, the others dropped.
func expandAll(a *App, key string, all []string, s *Sub) ([]*Sub, error) {
	if len(all) == 0 {
		return []*Sub{s}, nil
	}
	out := make([]*Sub, 0, len(s.Parents))
	for _, p := range s.Parents {
		e := &Sub{Parents: []*App{p}, Values: make(map[string]*Values, len(s.Values)+len(all)), JobIDs: s.JobIDs}
		for k, v := range s.Values {
			e.Values[k] = v
		}
		for _, k := range all {
			if !p.Template.Has(k) {
				continue
			}
			af := p.Autofill[k]
			if af == nil {
				return nil, errf(a.Name, key+"."+k, "\"all\" needs autofill_values for %q in the parent app %s", k, p.Name)
			}
			e.Values[k] = af
		}
		out = append(out, e)
	}
	return out, nil
}

func (c *Config) parseParents(a *App, key string, raw json.RawMessage, s *Sub) error {
	if str, ok := isString(raw); ok {
		return errf(a.Name, key, "want a list of app names, found the string %q (write [%q])", str, str)
	}
	names, err := scalars(raw)
	if err != nil {
		return errf(a.Name, key, "%v", err)
	}
	if len(names) == 0 {
		return errf(a.Name, key, "an empty list of parent apps")
	}
	if err := noRepeats(names); err != nil {
		return errf(a.Name, key, "%v", err)
	}
	for _, n := range names {
		p := c.byName[n]
		if p == nil {
			return errf(a.Name, key, "unknown parent app %q", n)
		}
		s.Parents = append(s.Parents, p)
	}
	return nil
}

func anyHas(apps []*App, ident string) bool {
	for _, p := range apps {
		if p.Template.Has(ident) {
			return true
		}
	}
	return false
}

func noRepeats(vals []string) error {
	seen := make(map[string]bool, len(vals))
	for _, v := range vals {
		if seen[v] {
			return fmt.Errorf("%q is listed twice", v)
		}
		seen[v] = true
	}
	return nil
}

// checkCycles fails on a dependency cycle, naming it.
func (c *Config) checkCycles() error {
	const (
		white = iota
		grey
		black
	)
	color := make(map[*App]int, len(c.Apps))
	var stack []*App
	var visit func(a *App) error
	visit = func(a *App) error {
		color[a] = grey
		stack = append(stack, a)
		for _, g := range a.Groups {
			for _, p := range g.parentApps() {
				switch color[p] {
				case grey:
					i := len(stack) - 1
					for stack[i] != p {
						i--
					}
					// The stack runs child -> parent; the cycle is printed
					// parent -> child, starting and ending at p.
					names := []string{p.Name}
					for j := len(stack) - 1; j >= i; j-- {
						names = append(names, stack[j].Name)
					}
					return errf(p.Name, "depends_on", "dependency cycle: %s", strings.Join(names, " -> "))
				case white:
					if err := visit(p); err != nil {
						return err
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[a] = black
		return nil
	}
	for _, a := range c.Apps {
		if color[a] == white {
			if err := visit(a); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkFill makes sure that every identifier can be filled both ways: a
// parent job id from a child's, and a child job id from a parent's.
func (c *Config) checkFill(a *App) error {
	for _, g := range a.Groups {
		key := "depends_on"
		if g.Name != DefaultGroup {
			key += "." + g.Name
		}
		for _, s := range g.Subs {
			for _, p := range s.Parents {
				if s.JobIDs == nil {
					for _, k := range p.Template.Idents {
						if !a.Template.Has(k) && s.Values[k] == nil && p.Autofill[k] == nil {
							return errf(a.Name, key, "parent app %s needs identifier %q, which neither %s's template, the group, nor %s's autofill_values provide", p.Name, k, a.Name, p.Name)
						}
					}
				}
				for _, k := range a.Template.Idents {
					if s.Values[k] == nil && !p.Template.Has(k) && a.Autofill[k] == nil {
						return errf(a.Name, key, "identifier %q cannot be filled from parent app %s's job ids: list its values in the group or give %s autofill_values for it", k, p.Name, a.Name)
					}
				}
			}
		}
	}
	return nil
}
