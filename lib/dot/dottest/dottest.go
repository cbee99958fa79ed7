// Package dottest renders DOT with GraphViz's dot(1) for tests and reads
// back the SVG it makes. A test that needs dot skips when it is not
// installed (Debian's graphviz package), or fails when the environment sets
// STOLOS_TEST_REQUIRE_SERVERS=1 (CI does).
package dottest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/stolos-sched/stolos/lib/testenv"
)

// Require skips tb, or fails it under STOLOS_TEST_REQUIRE_SERVERS=1, when
// dot cannot run.
func Require(tb testing.TB) {
	tb.Helper()
	testenv.RequireTool(tb, "dot", "graphviz")
}

// Condition answers the testscript condition [dot] (see testenv.Condition).
func Condition() (bool, error) { return testenv.Condition("dot", "graphviz") }

// SVG renders src with dot -Tsvg. dot's warnings are errors: valid DOT
// renders without a word on stderr.
func SVG(src []byte) ([]byte, error) {
	cmd := exec.Command("dot", "-Tsvg")
	cmd.Stdin = bytes.NewReader(src)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil || stderr.Len() > 0 {
		return nil, fmt.Errorf("dot -Tsvg: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Titles returns the titles of the nodes of an SVG made by dot (their
// names in the DOT source), in document order.
func Titles(svg []byte) ([]string, error) {
	d := xml.NewDecoder(bytes.NewReader(svg))
	d.Strict = false
	d.Entity = xml.HTMLEntity
	var out []string
	var inNode bool
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("svg: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "g":
			inNode = false
			for _, a := range se.Attr {
				if a.Name.Local == "class" && a.Value == "node" {
					inNode = true
				}
			}
		case "title":
			if inNode {
				var s string
				if err := d.DecodeElement(&s, &se); err != nil {
					return nil, fmt.Errorf("svg: %v", err)
				}
				out = append(out, s)
				inNode = false
			}
		}
	}
}
