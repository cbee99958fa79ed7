// Command stolos runs jobs of an app as stolos-exec does, taking the
// original Stolos runner's flags (--app_name, --job_id,
// --bypass_scheduler, --timeout, --max_retry, --bash_cmd). See stolos(1).
package main

import (
	"os"

	"github.com/stolos-sched/stolos/lib/exec"
)

func main() { os.Exit(exec.FrontMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
