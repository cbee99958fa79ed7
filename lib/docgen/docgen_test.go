package docgen

import (
	"flag"
	"slices"
	"testing"

	"github.com/stolos-sched/stolos/lib/backend"
	"github.com/stolos-sched/stolos/lib/cli"
)

// The choices the completions offer for -queue-backend (read from its usage
// string) are the backends Check accepts, and those of
// -configuration-backend are json and the stateful tools' sources.
func TestBackendChoices(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var qb backend.Flags
	qb.Register(fs)
	var cfg cli.ConfigFlags
	cfg.Register(fs)
	got := choices(fs.Lookup("queue-backend"))
	if !slices.Equal(got, backend.Names) {
		t.Errorf("queue-backend choices %q", got)
	}
	for _, name := range append(got, "nope") {
		f := backend.Flags{Backend: name, ZKHosts: "localhost"}
		if err := f.Check(); (err == nil) != (name != "nope") {
			t.Errorf("queue-backend %q: Check() = %v", name, err)
		}
	}
	want := cli.ConfigBackends
	if got := choices(fs.Lookup("configuration-backend")); !slices.Equal(got, want) {
		t.Errorf("configuration-backend choices %q, want %q", got, want)
	}
}

func TestItLine(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("long-flag-one", "", "a `HOST`")
	fs.Bool("b", false, "a boolean")
	fs.String("auth", "", "a `USER:PASSWORD`")
	fs.String("long-flag-two", "", "no argument name")
	var parts []string
	for _, n := range []string{"long-flag-one", "b", "auth", "long-flag-two"} {
		parts = append(parts, itPart(fs.Lookup(n), ""))
	}
	got := itLine(parts)
	want := `.It Fl long-flag-one Ar host , Fl b , Fl auth Ar user : Ns Ar password , \
Fl long-flag-two Ar string
`
	if got != want {
		t.Errorf("itLine:\n%s\nwant\n%s", got, want)
	}
}

func TestParseEntries(t *testing.T) {
	es, err := parseEntries(".\\\" a comment\n.\\\" flag a=x b unless c\nText.\n.\\\" item Fl h\nHelp.\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].cond != "c" || !es[0].unless || es[0].body != "Text.\n" ||
		len(es[0].flags) != 2 || es[0].flags[0] != (flagRef{"a", "x"}) || es[0].flags[1] != (flagRef{"b", ""}) ||
		es[1].item != "Fl h" || es[1].body != "Help.\n" {
		t.Errorf("parseEntries: %+v %+v", es[0], es[1])
	}
	for text, want := range map[string]string{
		"Text.\n":           "lib/docgen/flags.mdoc:1: text outside an entry",
		".\\\" flag if x\n": "lib/docgen/flags.mdoc:1: an entry names no flag",
	} {
		if _, err := parseEntries(text); err == nil || err.Error() != want {
			t.Errorf("parseEntries(%q) = %v, want %s", text, err, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("host", "localhost", "")
	fs.Int("port", 6379, "")
	fs.String("password", "", "")
	fs.Bool("tls", false, "")
	fs.Bool("on", true, "")
	fs.String("prefix", "stolos:", "")
	var all []*flag.Flag
	for _, n := range []string{"host", "port", "password", "tls", "prefix"} {
		all = append(all, fs.Lookup(n))
	}
	for _, c := range []struct {
		flags []*flag.Flag
		want  string
	}{
		{all, ".Ql localhost ,\n.Ql 6379 ,\nnone, off and\n.Ql stolos: .\n"},
		{all[:1], ".Ql localhost .\n"},
		{all[2:3], "none.\n"},
		{[]*flag.Flag{fs.Lookup("port"), fs.Lookup("on")}, ".Ql 6379\nand on.\n"},
		{[]*flag.Flag{fs.Lookup("on"), fs.Lookup("port")}, "on and\n.Ql 6379 .\n"},
	} {
		body := "Defaults\n{defaults} .\nEnd.\n"
		if got := withDefaults(body, c.flags); got != "Defaults\n"+c.want+"End.\n" {
			t.Errorf("withDefaults(%d flags) =\n%s", len(c.flags), got)
		}
	}
}

// Each generated part of a page gets its section's entries for the tool's
// flags; the lines around them stay.
func TestManPage(t *testing.T) {
	es, err := parseEntries(`.\" flag x
X.
.\" item Fl h
Help.
.\" section environment
.\" env x
The x.
.\" env y
The y.
.\" item Ev HOME if y
Home.
`)
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("x", "", "a `FILE`")
	page := ".Bl\n.\\\" BEGIN GENERATED flags: note\nold\n.\\\" END GENERATED\n.El\n.\\\" BEGIN GENERATED environment\n.\\\" END GENERATED\nend\n"
	used := map[*entry]bool{}
	got, err := manPage(page, es, fs, used)
	want := ".Bl\n.\\\" BEGIN GENERATED flags: note\n.It Fl x Ar file\nX.\nEnvironment:\n.Ev STOLOS_X .\n.It Fl h\nHelp.\n.\\\" END GENERATED\n.El\n" +
		".\\\" BEGIN GENERATED environment\n.It Ev STOLOS_X\nThe x.\n.\\\" END GENERATED\nend\n"
	if err != nil || got != want {
		t.Errorf("manPage: %v\n%s\nwant\n%s", err, got, want)
	}
	if len(used) != 3 {
		t.Errorf("used %d entries, want 3 (not env y, nor the HOME item)", len(used))
	}
	for page, want := range map[string]string{
		".\\\" BEGIN GENERATED nope\n.\\\" END GENERATED\n": `lib/docgen/flags.mdoc has no section "nope"`,
		".\\\" BEGIN GENERATED flags\n":                     `no line ".\\\" END GENERATED" after ".\\\" BEGIN GENERATED "`,
	} {
		if _, err := manPage(page, es, fs, used); err == nil || err.Error() != want {
			t.Errorf("manPage(%q) = %v, want %s", page, err, want)
		}
	}
}
