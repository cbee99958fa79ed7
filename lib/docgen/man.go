package docgen

import (
	_ "embed"
	"flag"
	"fmt"
	"strings"

	"github.com/stolos-sched/stolos/lib/cli"
)

// flagsMdoc holds the man page entries of the shared flags.
//
//go:embed flags.mdoc
var flagsMdoc string

// entry is one entry of flags.mdoc.
type entry struct {
	section string    // the generated part of a page it goes into
	kind    string    // "flag", "env" or "item"
	flags   []flagRef // the flags it documents (one for "env"), none for an item
	item    string    // an item's .It arguments
	cond    string    // a flag the tool must have ("if") or not ("unless")
	unless  bool
	body    string // its mdoc lines, each ending in a newline
	line    int    // of its header in flags.mdoc
}

// flagRef is a flag of an entry's .It line and its argument name ("" for
// the flag's own).
type flagRef struct{ name, arg string }

const header = `.\" `

// parseEntries reads flags.mdoc: comment lines, then entries, each a
// header line and its body, in sections.
func parseEntries(text string) ([]*entry, error) {
	var out []*entry
	var cur *entry
	section := "flags"
	for i, l := range strings.SplitAfter(text, "\n") {
		n := i + 1
		words := strings.Fields(strings.TrimPrefix(l, header))
		kind := ""
		if strings.HasPrefix(l, header) && len(words) > 0 {
			kind = words[0]
			words = words[1:]
		}
		errorf := func(format string, args ...any) error {
			return fmt.Errorf("lib/docgen/flags.mdoc:%d: "+format, append([]any{n}, args...)...)
		}
		switch kind {
		case "section":
			if len(words) != 1 {
				return nil, errorf("want a section name")
			}
			section, cur = words[0], nil
			continue
		case "flag", "env", "item":
			cur = &entry{section: section, kind: kind, line: n}
			if k := len(words) - 2; k >= 0 && (words[k] == "if" || words[k] == "unless") {
				cur.cond, cur.unless = words[k+1], words[k] == "unless"
				words = words[:k]
			}
			if kind == "item" {
				cur.item = strings.Join(words, " ")
			} else {
				for _, w := range words {
					name, arg, _ := strings.Cut(w, "=")
					cur.flags = append(cur.flags, flagRef{name, arg})
				}
			}
			switch {
			case kind == "item" && cur.item == "":
				return nil, errorf("an item with no .It arguments")
			case kind == "flag" && len(cur.flags) == 0:
				return nil, errorf("an entry names no flag")
			case kind == "env" && len(cur.flags) != 1:
				return nil, errorf("an env entry names one flag")
			}
			out = append(out, cur)
			continue
		}
		switch {
		case l == "":
		case cur == nil && strings.HasPrefix(l, `.\"`):
		case cur == nil:
			return nil, errorf("text outside an entry")
		default:
			if !strings.HasSuffix(l, "\n") {
				l += "\n"
			}
			cur.body += l
		}
	}
	return out, nil
}

// manBlock writes the entries of section that apply to the flags of fs,
// in the order of flags.mdoc, marking them in used. A flag documented
// twice, or an entry whose flags the tool has only some of, is an error.
func manBlock(entries []*entry, section string, fs *flag.FlagSet, used map[*entry]bool) (string, error) {
	var b strings.Builder
	done := map[string]bool{}
	found := false
	for _, e := range entries {
		if e.section != section {
			continue
		}
		found = true
		if e.cond != "" && (fs.Lookup(e.cond) != nil) == e.unless {
			continue
		}
		switch e.kind {
		case "item":
			used[e] = true
			fmt.Fprintf(&b, ".It %s\n%s", e.item, e.body)
			continue
		case "env":
			if fs.Lookup(e.flags[0].name) != nil {
				used[e] = true
				fmt.Fprintf(&b, ".It Ev %s\n%s", Env(e.flags[0].name), e.body)
			}
			continue
		}
		var have []*flag.Flag
		for _, r := range e.flags {
			if f := fs.Lookup(r.name); f != nil {
				have = append(have, f)
			}
		}
		if len(have) == 0 {
			continue
		}
		if len(have) < len(e.flags) {
			return "", fmt.Errorf("lib/docgen/flags.mdoc:%d: the tool has only some of the flags of the entry", e.line)
		}
		used[e] = true
		var its, evs []string
		for i, f := range have {
			if done[f.Name] {
				return "", fmt.Errorf("lib/docgen/flags.mdoc:%d: a second entry of -%s", e.line, f.Name)
			}
			done[f.Name] = true
			its = append(its, itPart(f, e.flags[i].arg))
			if !cli.IsInput(f) {
				evs = append(evs, ".Ev "+Env(f.Name))
			}
		}
		b.WriteString(itLine(its))
		b.WriteString(withDefaults(e.body, have))
		if len(evs) > 0 {
			b.WriteString("Environment:\n")
			b.WriteString(strings.Join(evs, " ,\n") + " .\n")
		}
	}
	if !found {
		return "", fmt.Errorf("lib/docgen/flags.mdoc has no section %q", section)
	}
	return b.String(), nil
}

// manPage rewrites each generated part of a page, between a line
// `.\" BEGIN GENERATED SECTION` and the next `.\" END GENERATED`, with
// the entries of that section of flags.mdoc for the flags of fs.
func manPage(text string, entries []*entry, fs *flag.FlagSet, used map[*entry]bool) (string, error) {
	const begin, end = `.\" BEGIN GENERATED `, `.\" END GENERATED`
	var b strings.Builder
	in := false
	for _, l := range strings.SplitAfter(text, "\n") {
		switch {
		case strings.HasPrefix(l, begin) && !in:
			section, _, _ := strings.Cut(strings.TrimPrefix(l, begin), ":")
			block, err := manBlock(entries, strings.TrimSpace(section), fs, used)
			if err != nil {
				return "", err
			}
			b.WriteString(l + block)
			in = true
		case strings.HasPrefix(l, begin):
			return "", fmt.Errorf("%q inside a generated part", strings.TrimSpace(l))
		case strings.HasPrefix(l, end) && in:
			b.WriteString(l)
			in = false
		case !in:
			b.WriteString(l)
		}
	}
	if in {
		return "", fmt.Errorf("no line %q after %q", end, begin)
	}
	return b.String(), nil
}

// itPart is a flag in an .It line: "Fl name Ar arg", with an argument
// a:b written "Ar a : Ns Ar b".
func itPart(f *flag.Flag, arg string) string {
	if IsBool(f) {
		return "Fl " + f.Name
	}
	if arg == "" {
		arg, _ = flag.UnquoteUsage(f)
		arg = strings.ToLower(arg)
	}
	return "Fl " + f.Name + " Ar " + strings.ReplaceAll(arg, ":", " : Ns Ar ")
}

// itLine joins the parts of an .It line with commas, breaking lines that
// would pass 80 columns (not counting the " , \\" that ends them) with an
// escaped newline.
func itLine(parts []string) string {
	const width = 80
	var b strings.Builder
	line := ".It " + parts[0]
	for _, p := range parts[1:] {
		if len(line)+len(" , "+p) > width {
			b.WriteString(line + " , \\\n")
			line = p
			continue
		}
		line += " , " + p
	}
	b.WriteString(line + "\n")
	return b.String()
}

// withDefaults replaces each line "{defaults} P" of body by the defaults
// of flags, as a list ended by the punctuation P: "X , Y , none, off and
// Z P", with each value quoted (.Ql), "none" for an empty one and "off"
// for a boolean that is.
func withDefaults(body string, flags []*flag.Flag) string {
	lines := strings.SplitAfter(body, "\n")
	for i, l := range lines {
		rest, ok := strings.CutPrefix(strings.TrimSuffix(l, "\n"), "{defaults}")
		if !ok {
			continue
		}
		lines[i] = defaultsList(flags, strings.TrimSpace(rest))
	}
	return strings.Join(lines, "")
}

func defaultsList(flags []*flag.Flag, punct string) string {
	var lines []string
	text := ""
	word := func(w string) {
		if text != "" {
			text += " "
		}
		text += w
	}
	flush := func() {
		if text != "" {
			lines = append(lines, text)
			text = ""
		}
	}
	for i, f := range flags {
		last, penult := i == len(flags)-1, i == len(flags)-2
		v, quoted := f.DefValue, true
		switch {
		case IsBool(f) && v == "false":
			v, quoted = "off", false
		case IsBool(f) && v == "true":
			v, quoted = "on", false
		case v == "":
			v, quoted = "none", false
		}
		if !quoted {
			switch {
			case last:
				word(v + punct)
			case penult:
				word(v + " and")
			default:
				word(v + ",")
			}
			continue
		}
		flush()
		l := ".Ql " + v
		switch {
		case last && punct != "":
			l += " " + punct
		case !last && !penult:
			l += " ,"
		}
		lines = append(lines, l)
		if penult {
			word("and")
		}
	}
	flush()
	return strings.Join(lines, "\n") + "\n"
}
