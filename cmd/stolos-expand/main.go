// Command stolos-expand writes the job ids of an app: the cross product of
// identifier values. See stolos-expand(1).
package main

import (
	"os"

	"github.com/stolos-sched/stolos/lib/expand"
)

func main() { os.Exit(expand.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
