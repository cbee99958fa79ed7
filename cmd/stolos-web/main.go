// Command stolos-web serves a read-only status page of the apps, their
// jobs and their attempts over HTTP. See stolos-web(1).
package main

import (
	"os"

	"github.com/stolos-sched/stolos/lib/web"
)

func main() { os.Exit(web.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
