// Command stolos-metrics writes the numbers of each app's jobs and of its
// recent attempts in Prometheus's text format, once or over HTTP. See
// stolos-metrics(1).
package main

import (
	"os"

	"github.com/stolos-sched/stolos/lib/metrics"
)

func main() { os.Exit(metrics.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
