// Command gendocs rewrites the generated parts of the man pages and shell
// completions of the stolos tree at the directory it is given (default
// "."); see package docgen. make docs runs it.
package main

import (
	"fmt"
	"os"

	"github.com/stolos-sched/stolos/lib/docgen"
)

func main() {
	root := "."
	switch len(os.Args) {
	case 1:
	case 2:
		root = os.Args[1]
	default:
		fmt.Fprintln(os.Stderr, "usage: gendocs [ROOT]")
		os.Exit(2)
	}
	changed, err := docgen.Write(root)
	for _, path := range changed {
		fmt.Fprintf(os.Stderr, "gendocs: wrote %s\n", path)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
		os.Exit(1)
	}
}
