package web_test

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// node is an element of a parsed page.
type node struct {
	name  string
	attr  map[string]string
	kids  []*node
	text  string // for a text node (name "")
	outer *node
}

// parseDOM parses an HTML page, as a server sends it or as Chromium
// serializes its DOM, with encoding/xml in its HTML mode (no third-party
// parser: the pages are simple and well formed).
func parseDOM(t *testing.T, page string) *node {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	root := &node{name: "#root", attr: map[string]string{}}
	cur := root
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("parse page: %v\n%s", err, page)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: strings.ToLower(tok.Name.Local), attr: map[string]string{}, outer: cur}
			for _, a := range tok.Attr {
				n.attr[strings.ToLower(a.Name.Local)] = a.Value
			}
			cur.kids = append(cur.kids, n)
			cur = n
		case xml.EndElement:
			for n := cur; n != root; n = n.outer {
				if n.name == strings.ToLower(tok.Name.Local) {
					cur = n.outer
					break
				}
			}
		case xml.CharData:
			cur.kids = append(cur.kids, &node{text: string(tok), outer: cur})
		}
	}
	return root
}

// walk calls fn for n and every element below it, in document order.
func (n *node) walk(fn func(*node)) {
	if n.name != "" {
		fn(n)
	}
	for _, k := range n.kids {
		k.walk(fn)
	}
}

// Text is the text of n, its runs of white space made one space.
func (n *node) Text() string {
	var b strings.Builder
	var rec func(*node)
	rec = func(n *node) {
		if n.name == "" {
			b.WriteString(n.text)
		}
		for _, k := range n.kids {
			rec(k)
		}
	}
	rec(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// ID is the element with id id, or nil.
func (n *node) ID(id string) *node {
	var found *node
	n.walk(func(e *node) {
		if found == nil && e.attr["id"] == id {
			found = e
		}
	})
	return found
}

// TextOf is the text of the element with id id, or "<no #id>".
func (n *node) TextOf(id string) string {
	e := n.ID(id)
	if e == nil {
		return "<no #" + id + ">"
	}
	return e.Text()
}

// Rows are the texts of the cells of each row of the body of the table
// with id id (its tbody rows), cells separated by " | ".
func (n *node) Rows(id string) []string {
	e := n.ID(id)
	if e == nil {
		return []string{"<no #" + id + ">"}
	}
	var rows []string
	e.walk(func(r *node) {
		if r.name != "tr" || r.outer == nil || r.outer.name != "tbody" {
			return
		}
		var cells []string
		for _, c := range r.kids {
			if c.name == "td" || c.name == "th" {
				cells = append(cells, c.Text())
			}
		}
		rows = append(rows, strings.Join(cells, " | "))
	})
	return rows
}

// Items are the texts of the li elements under the element with id id.
func (n *node) Items(id string) []string {
	e := n.ID(id)
	if e == nil {
		return []string{"<no #" + id + ">"}
	}
	var items []string
	e.walk(func(li *node) {
		if li.name == "li" {
			items = append(items, li.Text())
		}
	})
	return items
}

// Links are the targets of every a href, img src and link href of the
// page, in document order.
func (n *node) Links() []string {
	var out []string
	n.walk(func(e *node) {
		switch {
		case e.name == "a" && e.attr["href"] != "":
			out = append(out, e.attr["href"])
		case e.name == "img" && e.attr["src"] != "":
			out = append(out, e.attr["src"])
		case e.name == "link" && e.attr["href"] != "":
			out = append(out, e.attr["href"])
		}
	})
	return out
}
