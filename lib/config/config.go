// Package config loads the apps of a tasks.json (the original Stolos schema,
// read unchanged) into a checked, typed model: templates parsed, every value
// in depends_on, autofill_values and valid_if_or normalized by its
// identifier's rule, "all" expanded per parent, and every problem found at
// load time with the app and key named.
package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stolos-sched/stolos/lib/command"
	"github.com/stolos-sched/stolos/lib/jobid"
)

// DefaultGroup is the name of the unnamed dependency group (form A).
const DefaultGroup = "default"

// Options are the settings that shape the graph.
type Options struct {
	DefaultTemplate string // for apps without job_id
	Delimiter       string // "_" when empty
	Validations     jobid.Validations
}

// Config is a loaded tasks.json.
type Config struct {
	Apps   []*App // in file order
	byName map[string]*App
	Opts   Options
	pools  map[string]int // pool sizes (limits.go)
}

// App is one app of the config.
type App struct {
	Name     string
	Index    int // position in the file
	Template *jobid.Template
	Parser   *jobid.Parser
	// Autofill maps identifiers to their values: the domain and fill of
	// the app's identifiers.
	Autofill map[string]*Values
	// ValidIfOr is nil when every job is valid.
	ValidIfOr *ValidIfOr
	Groups    []*Group // depends_on, in file order
	Children  []Edge   // apps that depend on this one, in file order
	Exec      Exec     // the keys stolos-exec reads
	Raw       []member // every key as written
	// MaxRunning caps the app's jobs running at once (0: no cap), and
	// Pool names the pool it shares with other apps ("" if none); see
	// Limits.
	MaxRunning int
	Pool       string
	poolSize   int // pool_size as written here, 0 if not
}

// Values is an ordered set of normalized values: a list as written in the
// file, or a range ("min:max[:step]") kept as its bounds. Membership and
// iteration of a range are arithmetic; a list's repeats are dropped and its
// lookup set built when the list is first used, so an app a tool does not
// touch costs nothing beyond reading its text.
type Values struct {
	span *jobid.Span // a range; nil for a list
	raw  []string    // a list, as written (normalized)
	once sync.Once
	list []string            // raw without repeats, after once
	set  map[string]struct{} // the values of a long list, after once
}

// smallList is the length up to which a list is searched, not hashed.
const smallList = 8

func newValues(list []string) *Values { return &Values{raw: list} }

func newSpan(s *jobid.Span) *Values { return &Values{span: s} }

func (v *Values) init() {
	v.once.Do(func() {
		seen := make(map[string]struct{}, len(v.raw))
		v.list = make([]string, 0, len(v.raw))
		for _, s := range v.raw {
			if _, dup := seen[s]; !dup {
				seen[s] = struct{}{}
				v.list = append(v.list, s)
			}
		}
		if len(v.list) > smallList {
			v.set = seen
		}
		v.raw = nil
	})
}

// IsRange reports whether the values are a range, computed rather than
// held in memory.
func (v *Values) IsRange() bool { return v.span != nil }

// Len is the number of values.
func (v *Values) Len() int {
	if v.span != nil {
		return v.span.Len()
	}
	v.init()
	return len(v.list)
}

// At returns value i, 0 <= i < Len(), in order.
func (v *Values) At(i int) string {
	if v.span != nil {
		return v.span.At(i)
	}
	v.init()
	return v.list[i]
}

// Has reports whether s is one of the values.
func (v *Values) Has(s string) bool {
	if v.span != nil {
		return v.span.Has(s)
	}
	v.init()
	if v.set != nil {
		_, ok := v.set[s]
		return ok
	}
	return slices.Contains(v.list, s)
}

// List returns every value in order, a range expanded: for tests and
// messages. Iterate with Len and At, which expand nothing.
func (v *Values) List() []string {
	out := make([]string, v.Len())
	for i := range out {
		out[i] = v.At(i)
	}
	return out
}

// Group is one dependency group; a job needs the parents of every group it
// is compatible with.
type Group struct {
	Name string
	// Subs are the group's subgroups after "all" was expanded per parent
	// app. A group applies to a child job only if every one of them is
	// compatible with it (AND).
	Subs []*Sub
}

// Sub is one subgroup: parent apps and identifier values.
type Sub struct {
	Parents []*App
	// Values lists the values given for identifiers (explicit lists and
	// expanded "all"): the cross product of parents, overriding the job's
	// own value.
	Values map[string]*Values
	// JobIDs, when not nil, are explicit parent job ids, canonical under
	// each parent's template.
	JobIDs map[*App]*Values
}

// Edge is a child app and the group of its depends_on that names the parent.
type Edge struct {
	Child *App
	Group *Group
}

// ValidIfOr decides whether a job is valid (queued) or skipped.
type ValidIfOr struct {
	Values map[string]*Values // identifier -> accepted values (ORed)
	Func   string             // "_func": an external command, "" if none
}

// Exec holds the per-app keys that stolos-exec reads.
type Exec struct {
	JobType    string // "bash" when empty in the file
	BashCmd    string
	CheckCmd   string
	MaxRetry   int // -1: not set (the flag's default applies)
	RetryDelay time.Duration
	Timeout    time.Duration
	Env        map[string]string

	// ReadyCmd is the app's sensor: a command template run before each
	// attempt; exit 0 runs the job, runner.NotYet queues it again after
	// ReadyPoll without counting an attempt, until ReadyTimeout after the
	// first "not yet". ReadyPoll and ReadyTimeout have their defaults.
	ReadyCmd     string
	ReadyPoll    time.Duration
	ReadyTimeout time.Duration
}

// App returns the app named name, or nil.
func (c *Config) App(name string) *App { return c.byName[name] }

// Resolve parses jobID, a job id of the app named app: it returns the app,
// the canonical job id and its identifier values, or an error that names
// the app and its template.
func (c *Config) Resolve(app, jobID string) (*App, string, []string, error) {
	a := c.App(app)
	if a == nil {
		return nil, "", nil, fmt.Errorf("unknown app %q", app)
	}
	id, vals, err := a.Parser.Canonical(jobID)
	if err != nil {
		return nil, "", nil, fmt.Errorf("invalid job id %q for app %s (template %q): %v", jobID, a.Name, a.Template.Text, err)
	}
	return a, id, vals, nil
}

// Names lists the app names in file order.
func (c *Config) Names() []string {
	out := make([]string, len(c.Apps))
	for i, a := range c.Apps {
		out[i] = a.Name
	}
	return out
}

// Error is a load error: the app and key at fault, and what is wrong.
type Error struct {
	App string
	Key string
	Err string
}

func (e *Error) Error() string {
	switch {
	case e.App == "":
		return e.Err
	case e.Key == "":
		return fmt.Sprintf("app %s: %s", e.App, e.Err)
	}
	return fmt.Sprintf("app %s: %s: %s", e.App, e.Key, e.Err)
}

func errf(app, key, format string, args ...any) *Error {
	return &Error{App: app, Key: key, Err: fmt.Sprintf(format, args...)}
}

// Parse loads a tasks.json document.
func Parse(data []byte, opts Options) (*Config, error) {
	if opts.Delimiter == "" {
		opts.Delimiter = "_"
	}
	if opts.Validations == nil {
		opts.Validations = jobid.Validations{}
	}
	apps, err := objectMembers(data)
	if err != nil {
		return nil, err
	}
	c := &Config{byName: make(map[string]*App, len(apps)), Opts: opts}
	// First pass: each app on its own.
	for i, m := range apps {
		a, err := c.parseApp(i, m)
		if err != nil {
			return nil, err
		}
		c.Apps = append(c.Apps, a)
		c.byName[a.Name] = a
	}
	// Second pass: dependencies, which need every app's template.
	for i, m := range apps {
		a := c.Apps[i]
		for _, km := range a.Raw {
			if km.Key == "depends_on" {
				if err := c.parseDependsOn(a, km.Value); err != nil {
					return nil, err
				}
			}
		}
		_ = m
	}
	if err := c.checkPools(); err != nil {
		return nil, err
	}
	if err := c.checkCycles(); err != nil {
		return nil, err
	}
	for _, child := range c.Apps {
		for _, g := range child.Groups {
			for _, p := range g.parentApps() {
				p.Children = append(p.Children, Edge{child, g})
			}
		}
	}
	for _, a := range c.Apps {
		if err := c.checkFill(a); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Config) parseApp(i int, m member) (*App, error) {
	name := m.Key
	if name == "" || strings.ContainsAny(name, "\t\n\r ") {
		return nil, errf("", "", "bad app name %q: it must be non-empty, without spaces, tabs or newlines", name)
	}
	if kind(m.Value) != "an object" {
		return nil, errf(name, "", "want an object, found %s", kind(m.Value))
	}
	keys, err := objectMembers(m.Value)
	if err != nil {
		return nil, errf(name, "", "%v", err)
	}
	a := &App{Name: name, Index: i, Raw: keys, Exec: Exec{JobType: "bash", MaxRetry: -1}}
	get := func(k string) (json.RawMessage, bool) {
		for _, km := range keys {
			if km.Key == k {
				return km.Value, true
			}
		}
		return nil, false
	}
	tmpl := c.Opts.DefaultTemplate
	if raw, ok := get("job_id"); ok {
		s, ok := isString(raw)
		if !ok {
			return nil, errf(name, "job_id", "want a template string, found %s", kind(raw))
		}
		tmpl = s
	} else if tmpl == "" {
		return nil, errf(name, "", "no job_id template and no default (-job-id-default-template, STOLOS_JOB_ID_DEFAULT_TEMPLATE)")
	}
	if a.Template, err = jobid.ParseTemplate(tmpl, c.Opts.Delimiter); err != nil {
		return nil, errf(name, "job_id", "%v", err)
	}
	a.Parser = jobid.NewParser(a.Template, c.Opts.Validations)
	if raw, ok := get("autofill_values"); ok {
		if a.Autofill, err = c.parseAutofill(a, raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := get("valid_if_or"); ok {
		if a.ValidIfOr, err = c.parseValidIfOr(a, raw); err != nil {
			return nil, err
		}
	}
	if err := parseLimits(a, get); err != nil {
		return nil, err
	}
	if err := parseExec(a, get); err != nil {
		return nil, err
	}
	return a, nil
}

// normalize normalizes values of identifier k for app a's rules.
func (c *Config) normalize(k string, vals []string) ([]string, error) {
	r := c.Opts.Validations[k]
	out := make([]string, len(vals))
	for i, v := range vals {
		n, err := r.Normalize(v)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

func (c *Config) parseAutofill(a *App, raw json.RawMessage) (map[string]*Values, error) {
	if kind(raw) != "an object" {
		return nil, errf(a.Name, "autofill_values", "want an object, found %s", kind(raw))
	}
	ms, err := objectMembers(raw)
	if err != nil {
		return nil, errf(a.Name, "autofill_values", "%v", err)
	}
	out := make(map[string]*Values, len(ms))
	for _, m := range ms {
		key := "autofill_values." + m.Key
		if !a.Template.Has(m.Key) {
			return nil, errf(a.Name, key, "%q is not an identifier of the template %q", m.Key, a.Template.Text)
		}
		if str, ok := isString(m.Value); ok {
			span, err := c.autofillRange(m.Key, str)
			if err != nil {
				return nil, errf(a.Name, key, "%v", err)
			}
			out[m.Key] = newSpan(span)
			continue
		}
		vals, err := scalars(m.Value)
		if err == nil {
			vals, err = c.normalize(m.Key, vals)
		}
		if err != nil {
			return nil, errf(a.Name, key, "%v", err)
		}
		out[m.Key] = newValues(vals)
	}
	return out, nil
}

// autofillRange reads "min:max[:step]": min <= x < max, kept as a span
// (never expanded). For a date identifier the bounds are dates and the
// range runs over calendar days.
func (c *Config) autofillRange(ident, s string) (*jobid.Span, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("range %q: want \"min:max\" or \"min:max:step\"", s)
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return nil, fmt.Errorf("range %q: %q is not a non-negative integer", s, p)
		}
	}
	step := int64(1)
	if len(parts) == 3 {
		n, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("range %q: step must be a positive integer", s)
		}
		step = n
	}
	r := c.Opts.Validations[ident]
	if r != nil && r.Pattern != "" {
		return nil, fmt.Errorf("range %q: %s values must match %q, which a range cannot promise for every value: list the values, or give %s type int", s, ident, r.Pattern, ident)
	}
	span, err := r.Span(parts[0], parts[1], step, false)
	if err != nil {
		return nil, fmt.Errorf("range %q: %v", s, err)
	}
	return span, nil
}

func (c *Config) parseValidIfOr(a *App, raw json.RawMessage) (*ValidIfOr, error) {
	if kind(raw) != "an object" {
		return nil, errf(a.Name, "valid_if_or", "want an object, found %s", kind(raw))
	}
	ms, err := objectMembers(raw)
	if err != nil {
		return nil, errf(a.Name, "valid_if_or", "%v", err)
	}
	if len(ms) == 0 {
		return nil, nil // {} means no criteria: every job is valid
	}
	v := &ValidIfOr{Values: map[string]*Values{}}
	for _, m := range ms {
		key := "valid_if_or." + m.Key
		if m.Key == "_func" {
			s, ok := isString(m.Value)
			if !ok || strings.TrimSpace(s) == "" {
				return nil, errf(a.Name, key, "want a command string, found %s", kind(m.Value))
			}
			v.Func = s
			continue
		}
		if !a.Template.Has(m.Key) {
			return nil, errf(a.Name, key, "%q is not an identifier of the template %q", m.Key, a.Template.Text)
		}
		vals, err := scalars(m.Value)
		if err == nil {
			vals, err = c.normalize(m.Key, vals)
		}
		if err != nil {
			return nil, errf(a.Name, key, "%v", err)
		}
		v.Values[m.Key] = newValues(vals)
	}
	return v, nil
}

func parseExec(a *App, get func(string) (json.RawMessage, bool)) error {
	str := func(k string, dst *string) error {
		if raw, ok := get(k); ok {
			s, ok := isString(raw)
			if !ok {
				return errf(a.Name, k, "want a string, found %s", kind(raw))
			}
			*dst = s
		}
		return nil
	}
	dur := func(k string, dst *time.Duration) error {
		var s string
		if err := str(k, &s); err != nil || s == "" {
			return err
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return errf(a.Name, k, "want a duration such as \"30s\" or \"5m\", found %q", s)
		}
		*dst = d
		return nil
	}
	if err := str("job_type", &a.Exec.JobType); err != nil {
		return err
	}
	if a.Exec.JobType == "" || strings.Trim(a.Exec.JobType, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return errf(a.Name, "job_type", "%q: want a name of lower-case letters, digits, '-' or '_'", a.Exec.JobType)
	}
	// The original's README names the command bash_opts (its code read
	// only bash_cmd): either is the command, not both.
	cmdKey := "bash_cmd"
	if _, ok := get("bash_opts"); ok {
		if _, both := get("bash_cmd"); both {
			return errf(a.Name, "bash_opts", "bash_opts is another name for bash_cmd: set one of them")
		}
		cmdKey = "bash_opts"
	}
	if err := str(cmdKey, &a.Exec.BashCmd); err != nil {
		return err
	}
	if err := str("check_cmd", &a.Exec.CheckCmd); err != nil {
		return err
	}
	for key, tmpl := range map[string]string{cmdKey: a.Exec.BashCmd, "check_cmd": a.Exec.CheckCmd} {
		if err := checkPlaceholders(a, key, tmpl); err != nil {
			return err
		}
	}
	if err := parseReady(a, get, str, dur); err != nil {
		return err
	}
	if err := dur("retry_delay", &a.Exec.RetryDelay); err != nil {
		return err
	}
	if err := dur("timeout", &a.Exec.Timeout); err != nil {
		return err
	}
	if raw, ok := get("max_retry"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil || n < 1 {
			return errf(a.Name, "max_retry", "want a whole number of at least 1, found %s", strings.TrimSpace(string(raw)))
		}
		a.Exec.MaxRetry = n
	}
	if raw, ok := get("env"); ok {
		var env map[string]string
		if kind(raw) != "an object" || json.Unmarshal(raw, &env) != nil {
			return errf(a.Name, "env", "want an object of strings")
		}
		for k := range env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				return errf(a.Name, "env", "bad variable name %q", k)
			}
		}
		a.Exec.Env = env
	}
	return nil
}

// checkPlaceholders rejects a command template that is malformed or names a
// placeholder that no job of the app fills: one of its identifiers,
// app_name or job_id.
func checkPlaceholders(a *App, key, tmpl string) error {
	names, err := command.Placeholders(tmpl)
	if err != nil {
		return errf(a.Name, key, "%v", err)
	}
	for _, n := range names {
		if n != "app_name" && n != "job_id" && !a.Template.Has(n) {
			return errf(a.Name, key, "placeholder {%s} is not an identifier of the template %q, nor app_name or job_id (write {{ and }} for literal braces)", n, a.Template.Text)
		}
	}
	return nil
}

// parentApps lists the distinct parent apps of a group, in order.
func (g *Group) parentApps() []*App {
	var out []*App
	seen := map[*App]bool{}
	for _, s := range g.Subs {
		for _, p := range s.Parents {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}
