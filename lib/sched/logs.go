package sched

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/stolos-sched/stolos/lib/store"
)

// LogFile is the path of attempt a's log on this machine's disk, or an
// error that says why it cannot be read here: no log was recorded, its
// location is malformed, or it is on another host (whose name and path
// the error gives: a shared -log-dir, as NFS, has every worker's logs on
// every machine under the same path, and records them with the writer's
// host). It reads nothing: the file may still be missing.
func LogFile(a store.Attempt) (string, error) {
	host, path, ok := strings.Cut(a.Log, ":")
	switch {
	case a.Log == "":
		return "", fmt.Errorf("no log recorded (%s)", a.Outcome)
	case !ok || !filepath.IsAbs(path):
		return "", fmt.Errorf("bad log location %q", a.Log)
	case host != Host():
		return "", fmt.Errorf("the log is on host %s: %s", host, path)
	}
	return path, nil
}
