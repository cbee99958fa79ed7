// Command stolos-submit is part of stolos, a dependency scheduler for batch
// pipelines. See stolos-submit(1).
package main

import (
	"os"

	"github.com/stolos-sched/stolos/lib/submit"
)

func main() { os.Exit(submit.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
