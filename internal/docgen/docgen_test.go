package docgen

import (
	"flag"
	"maps"
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
	if !slices.Equal(got, []string{"local", "zookeeper", "redis"}) {
		t.Errorf("queue-backend choices %q", got)
	}
	for _, name := range append(got, "nope") {
		f := backend.Flags{Backend: name, ZKHosts: "localhost"}
		if err := f.Check(); (err == nil) != (name != "nope") {
			t.Errorf("queue-backend %q: Check() = %v", name, err)
		}
	}
	want := append([]string{"json"}, slices.Sorted(maps.Keys(backend.ConfigSources()))...)
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
		"Text.\n":           "internal/docgen/flags.mdoc:1: text before the first entry",
		".\\\" flag if x\n": "internal/docgen/flags.mdoc:1: an entry names no flag",
	} {
		if _, err := parseEntries(text); err == nil || err.Error() != want {
			t.Errorf("parseEntries(%q) = %v, want %s", text, err, want)
		}
	}
}
