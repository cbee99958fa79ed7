package docgen

import (
	_ "embed"
	"flag"
	"fmt"
	"strings"
)

// flagsMdoc holds the man page entries of the shared flags.
//
//go:embed flags.mdoc
var flagsMdoc string

// entry is one entry of flags.mdoc.
type entry struct {
	flags  []flagRef // the flags it documents, or none for an item
	item   string    // an item's .It arguments
	cond   string    // a flag the tool must have ("if") or not ("unless")
	unless bool
	body   string // its mdoc lines, each ending in a newline
	line   int    // of its header in flags.mdoc
}

// flagRef is a flag of an entry's .It line and its argument name ("" for
// the flag's own).
type flagRef struct{ name, arg string }

const (
	flagHeader = `.\" flag `
	itemHeader = `.\" item `
)

// parseEntries reads flags.mdoc: comment lines, then entries, each a
// header line and its body.
func parseEntries(text string) ([]*entry, error) {
	var out []*entry
	var cur *entry
	for i, l := range strings.SplitAfter(text, "\n") {
		n := i + 1
		switch {
		case l == "":
		case strings.HasPrefix(l, flagHeader):
			cur = &entry{line: n}
			words := strings.Fields(strings.TrimPrefix(l, flagHeader))
			if k := len(words) - 2; k >= 0 && (words[k] == "if" || words[k] == "unless") {
				cur.cond, cur.unless = words[k+1], words[k] == "unless"
				words = words[:k]
			}
			for _, w := range words {
				name, arg, _ := strings.Cut(w, "=")
				cur.flags = append(cur.flags, flagRef{name, arg})
			}
			if len(cur.flags) == 0 {
				return nil, fmt.Errorf("internal/docgen/flags.mdoc:%d: an entry names no flag", n)
			}
			out = append(out, cur)
		case strings.HasPrefix(l, itemHeader):
			cur = &entry{line: n, item: strings.TrimSpace(strings.TrimPrefix(l, itemHeader))}
			out = append(out, cur)
		case cur == nil && strings.HasPrefix(l, `.\"`):
		case cur == nil:
			return nil, fmt.Errorf("internal/docgen/flags.mdoc:%d: text before the first entry", n)
		default:
			if !strings.HasSuffix(l, "\n") {
				l += "\n"
			}
			cur.body += l
		}
	}
	return out, nil
}

// manBlock writes the entries that apply to the flags of fs, in the order
// of flags.mdoc, marking them in used. A flag documented twice, or an
// entry whose flags the tool has only some of, is an error.
func manBlock(entries []*entry, fs *flag.FlagSet, used map[*entry]bool) (string, error) {
	var b strings.Builder
	done := map[string]bool{}
	for _, e := range entries {
		if e.cond != "" && (fs.Lookup(e.cond) != nil) == e.unless {
			continue
		}
		if e.item != "" {
			fmt.Fprintf(&b, ".It %s\n%s", e.item, e.body)
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
			return "", fmt.Errorf("internal/docgen/flags.mdoc:%d: the tool has only some of the flags of the entry", e.line)
		}
		used[e] = true
		var its, evs []string
		for i, f := range have {
			if done[f.Name] {
				return "", fmt.Errorf("internal/docgen/flags.mdoc:%d: a second entry of -%s", e.line, f.Name)
			}
			done[f.Name] = true
			its = append(its, itPart(f, e.flags[i].arg))
			evs = append(evs, ".Ev "+Env(f.Name))
		}
		b.WriteString(itLine(its))
		b.WriteString(e.body)
		b.WriteString("Environment:\n")
		b.WriteString(strings.Join(evs, " ,\n") + " .\n")
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
