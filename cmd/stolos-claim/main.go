// Command stolos-claim is part of stolos, a dependency scheduler for batch
// pipelines. See stolos-claim(1).
package main

import (
	"os"

	"github.com/stolos-sched/stolos/lib/claim"
)

func main() { os.Exit(claim.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
