// Command stolos-exec runs jobs of an app: named ones, or the next ones on
// its queue. See stolos-exec(1).
package main

import (
	"os"

	"github.com/stolos-sched/stolos/lib/exec"
)

func main() { os.Exit(exec.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
