// Command stolos-parents writes the parent jobs of jobs. See stolos-parents(1).
package main

import (
	"os"

	"github.com/stolos-sched/stolos/lib/parents"
)

func main() { os.Exit(parents.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
