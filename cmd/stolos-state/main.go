// Command stolos-state is part of stolos, a dependency scheduler for batch
// pipelines. See stolos-state(1).
package main

import (
	"os"

	"github.com/stolos-sched/stolos/lib/state"
)

func main() { os.Exit(state.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
