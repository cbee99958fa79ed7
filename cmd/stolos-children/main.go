// Command stolos-children writes the child jobs of jobs. See stolos-children(1).
package main

import (
	"os"

	"github.com/stolos-sched/stolos/lib/children"
)

func main() { os.Exit(children.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
