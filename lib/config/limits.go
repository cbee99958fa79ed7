package config

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Limit caps how many jobs of some apps run at once across the fleet:
// an app's max_running, or a pool that several apps share (DESIGN.md,
// "Limits and pools").
type Limit struct {
	Name string   // "app NAME" or "pool NAME"
	Max  int      // at least 1
	Apps []string // the apps whose running jobs count, in file order
}

// Limits are the limits of an app's claims: its own max_running, then
// its pool's size; none if it has neither.
func (c *Config) Limits(app string) []Limit {
	a := c.App(app)
	if a == nil {
		return nil
	}
	var out []Limit
	if a.MaxRunning > 0 {
		out = append(out, Limit{Name: "app " + a.Name, Max: a.MaxRunning, Apps: []string{a.Name}})
	}
	if a.Pool != "" {
		p := Limit{Name: "pool " + a.Pool, Max: c.pools[a.Pool]}
		for _, b := range c.Apps {
			if b.Pool == a.Pool {
				p.Apps = append(p.Apps, b.Name)
			}
		}
		out = append(out, p)
	}
	return out
}

// parseLimits reads an app's max_running, pool and pool_size.
func parseLimits(a *App, get func(string) (json.RawMessage, bool)) error {
	count := func(k string, dst *int) error {
		if raw, ok := get(k); ok {
			s := strings.TrimSpace(string(raw))
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return errf(a.Name, k, "want a whole number of at least 1, found %s", s)
			}
			*dst = n
		}
		return nil
	}
	if err := count("max_running", &a.MaxRunning); err != nil {
		return err
	}
	if raw, ok := get("pool"); ok {
		s, ok := isString(raw)
		if !ok || s == "" || strings.ContainsAny(s, "\t\n\r ") {
			return errf(a.Name, "pool", "want a pool name without spaces, tabs or newlines, found %s", strings.TrimSpace(string(raw)))
		}
		a.Pool = s
	}
	if err := count("pool_size", &a.poolSize); err != nil {
		return err
	}
	if a.poolSize > 0 && a.Pool == "" {
		return errf(a.Name, "pool_size", "the app names no pool")
	}
	return nil
}

// checkPools gives each pool the size its apps give it: at least one of
// them, and those that do the same.
func (c *Config) checkPools() error {
	c.pools = map[string]int{}
	by := map[string]*App{}
	for _, a := range c.Apps {
		if a.poolSize == 0 {
			continue
		}
		if b := by[a.Pool]; b != nil && a.poolSize != b.poolSize {
			return errf(a.Name, "pool_size", "%d, but app %s gives pool %q the size %d", a.poolSize, b.Name, a.Pool, b.poolSize)
		}
		by[a.Pool] = a
		c.pools[a.Pool] = a.poolSize
	}
	for _, a := range c.Apps {
		if a.Pool != "" && c.pools[a.Pool] == 0 {
			return errf(a.Name, "pool", "no app gives pool %q its pool_size", a.Pool)
		}
	}
	return nil
}
