// Package parents is stolos-parents: it reads jobs (arguments, or stdin
// lines of bare job ids with -a, or APP<TAB>JOB_ID records) and writes their
// parent jobs, APP<TAB>JOB_ID[<TAB>GROUP] per line. See stolos-parents(1).
package parents

import (
	"io"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/related"
)

// Main runs stolos-parents.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return related.Command(related.Parents).Main(args, stdin, stdout, stderr)
}

// Tool returns the tool with its flags registered, for documentation checks.
func Tool() *cli.Tool { return related.Command(related.Parents).Tool() }
