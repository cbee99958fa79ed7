// Command stolos-progress reports how far along jobs and all their
// ancestors are, and waits for them. See stolos-progress(1).
package main

import (
	"os"

	"github.com/stolos-sched/stolos/lib/progress"
)

func main() { os.Exit(progress.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
