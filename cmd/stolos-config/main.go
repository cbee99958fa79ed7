// Command stolos-config loads a tasks.json into the configuration backend
// redis, or writes the configuration back as a tasks.json. See
// stolos-config(1).
package main

import (
	"os"

	"github.com/stolos-sched/stolos/lib/conftool"
)

func main() { os.Exit(conftool.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
