package zookeeper

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stolos-sched/stolos/lib/store"
)

func TestEscapeName(t *testing.T) {
	cases := map[string]string{
		"20140601_1":    "20140601_1",
		"a/b":           "a%2Fb",
		".":             "%2E",
		"..":            "%2E%2E",
		"a.b":           "a.b",
		"100%":          "100%25",
		"a b~c":         "a%20b%7Ec",
		"zookeeper":     "zookeeper",
		"é":             "%C3%A9",
		"x\x00y":        "x%00y",
		"{date}_{id}":   "%7Bdate%7D_%7Bid%7D",
		"client/../etc": "client%2F..%2Fetc",
	}
	for in, want := range cases {
		got := escapeName(in)
		if got != want {
			t.Errorf("escapeName(%q) = %q, want %q", in, got, want)
		}
		back, err := unescapeName(got)
		if err != nil || back != in {
			t.Errorf("unescapeName(%q) = %q, %v, want %q", got, back, err, in)
		}
	}
	for _, bad := range []string{"%", "%2", "%zz", "a%2"} {
		if _, err := unescapeName(bad); err == nil {
			t.Errorf("unescapeName(%q): no error", bad)
		}
	}
}

func FuzzEscapeName(f *testing.F) {
	for _, s := range []string{"", "a/b", "..", "%41", "x~1_2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := escapeName(s)
		if strings.ContainsAny(e, "/~") || e == "." || e == ".." {
			t.Fatalf("escapeName(%q) = %q: not a safe znode name", s, e)
		}
		back, err := unescapeName(e)
		if err != nil || back != s {
			t.Fatalf("round trip of %q: %q, %v", s, back, err)
		}
	})
}

func TestEntryName(t *testing.T) {
	cases := []entry{
		{prio: 100, pos: 5, notBefore: 0, jobID: "20140601_1"},
		{prio: -3, pos: 1<<posBits - 1, notBefore: 1732370000123, jobID: "a/b_c"},
		{prio: 0, pos: 1 << 36, jobID: "_"},
	}
	for _, e := range cases {
		q := e.name()
		got, err := parseEntry(q)
		if err != nil || got != e {
			t.Errorf("parseEntry(%q) = %+v, %v, want %+v", q, got, err, e)
		}
	}
	if got, want := entryName(100, 0x123456789, 0, "x"), "8000000000000064/004/468/567/00123456789_0_x"; got != want {
		t.Errorf("entryName = %q, want %q", got, want)
	}
	// Priorities sort as numbers, positions as numbers.
	if !(prioName(-5) < prioName(0) && prioName(0) < prioName(7) && prioName(7) < prioName(100)) {
		t.Error("priority names do not sort as numbers")
	}
	if got, want := withNotBefore(entryName(1, 2, 0, "j"), 99), entryName(1, 2, 99, "j"); got != want {
		t.Errorf("withNotBefore = %q, want %q", got, want)
	}
	for _, bad := range []string{"", "x", "8000000000000064/000/000/000/00000000005_0", "8000000000000064/000/000/000/5_0_x"} {
		if _, err := parseEntry(bad); err == nil {
			t.Errorf("parseEntry(%q): no error", bad)
		}
	}
}

// childCounter counts the children of every parent of the paths it sees.
type childCounter map[string]int

func (c childCounter) add(path string) {
	for {
		i := strings.LastIndexByte(path, '/')
		if i < 0 {
			return
		}
		parent := path[:i]
		if c[path] == 0 {
			c[parent+"\x00"]++ // distinct children, counted once each
		}
		c[path]++
		path = parent
	}
}

func (c childCounter) max() (string, int) {
	var at string
	var n int
	for k, v := range c {
		if strings.HasSuffix(k, "\x00") && v > n {
			at, n = strings.TrimSuffix(k, "\x00"), v
		}
	}
	return at, n
}

// TestChildrenBound: 1,000,000 jobs in one app, 200,000 of them queued, in
// the two worst shapes (positions from one big block; every entry from a
// block of its own), never put more than maxChildren children under a node.
func TestChildrenBound(t *testing.T) {
	if testing.Short() {
		t.Skip("counts a million paths")
	}
	p := paths{root: "/c"}
	c := childCounter{}
	for i := range 1_000_000 {
		c.add(p.job(store.Ref{App: "app", JobID: fmt.Sprintf("2014%04d_%d", i%3650, i)}))
	}
	for i := range 200_000 {
		// Dense: positions in allocation order.
		c.add(p.entry("app", entryName(100, uint64(i), 0, "j")))
		// Sparse: one entry per block, blocks up to the 31-bit version.
		v := uint64(i) * ((1 << 31) / 200_000)
		c.add(p.entry("app", entryName(50, v<<posBlockBits, 0, "j")))
		// Many priorities.
		c.add(p.entry("app", entryName(i%1000, uint64(i)<<posBlockBits, 0, "j")))
	}
	at, n := c.max()
	if n > maxChildren {
		t.Fatalf("%s has %d children, more than %d", at, n, maxChildren)
	}
	t.Logf("most children: %d under %s", n, at)
	// By construction: a chunk has at most 1<<posChunkBits entries, each
	// level above at most 1<<posLevelBits children.
	if posChunkBits+3*posLevelBits != posBits || 1<<posLevelBits > maxChildren || 1<<posChunkBits > maxChildren || jobBuckets > maxChildren {
		t.Fatal("layout constants exceed the bound")
	}
}

// TestSpread: a backend that has not lost a claim race keeps the queue's
// order; one that has starts at one of the first entries of the top
// priority, keeps that priority's entries together and the lower ones
// after, in order.
func TestSpread(t *testing.T) {
	b := &Backend{}
	var cands []candidate
	for i, prio := range []int{5, 5, 5, 5, 9, 9} {
		q := entryName(prio, uint64(i), 0, fmt.Sprint("j", i))
		cands = append(cands, candidate{q: q, ref: store.Ref{App: "a", JobID: fmt.Sprint("j", i)}})
	}
	ids := func(cs []candidate) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.ref.JobID)
		}
		return strings.Join(s, " ")
	}
	if got := ids(b.spread(cands)); got != "j0 j1 j2 j3 j4 j5" {
		t.Fatalf("spread without a lost race: %s", got)
	}
	b.contended()
	starts := map[string]bool{}
	for range 200 {
		got := b.spread(cands)
		if len(got) != len(cands) {
			t.Fatalf("spread: %d of %d candidates", len(got), len(cands))
		}
		// A rotation of j0..j3, then j4 j5.
		first := got[0].ref.JobID
		starts[first] = true
		var want []string
		k := int(first[1] - '0')
		for i := range 4 {
			want = append(want, fmt.Sprint("j", (k+i)%4))
		}
		if s := ids(got); s != strings.Join(want, " ")+" j4 j5" {
			t.Fatalf("spread after a lost race: %s", s)
		}
	}
	if len(starts) != 4 {
		t.Fatalf("spread started at %d of the 4 top-priority entries in 200 tries", len(starts))
	}
}
