// Command stolos-graph draws the dependency graph, of the apps or of jobs
// coloured by state, in GraphViz's DOT language. See stolos-graph(1).
package main

import (
	"os"

	"github.com/stolos-sched/stolos/lib/graphviz"
)

func main() { os.Exit(graphviz.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
