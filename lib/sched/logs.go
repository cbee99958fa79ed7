package sched

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stolos-sched/stolos/lib/cli"

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

// StderrLog is the -log-dir that sends the commands' output to
// stolos-exec's standard error instead of files.
const StderrLog = "-"

// LogDir is the directory of the attempts' logs that -log-dir names: it
// if given, none ("") for StderrLog, else the default, log under
// cli.StateDir ($XDG_STATE_HOME/stolos/log, else
// ~/.local/state/stolos/log). stolos-exec writes there, stolos-state
// -log reads there the logs that no record names yet (a running
// attempt's, an abandoned one's).
func LogDir(flag string) (string, error) {
	switch flag {
	case StderrLog:
		return "", nil
	case "":
		dir, err := cli.StateDir()
		if err != nil {
			return "", cli.Usagef("no -log-dir: %v (give -log-dir DIR, or - for standard error)", err)
		}
		return filepath.Join(dir, "log"), nil
	}
	return flag, nil
}

// JobLogDir is the folder of the logs of job id of app under dir:
// DIR/APP/JOB_ID, names escaped.
func JobLogDir(dir, app, id string) string {
	return filepath.Join(dir, url.PathEscape(app), url.PathEscape(id))
}

// LogPath is the log of attempt seq of job id of app under dir:
// DIR/APP/JOB_ID/SEQ.log (store.Attempt.Seq is never reset, so a log is
// never another attempt's).
func LogPath(dir, app, id string, seq int64) string {
	return filepath.Join(JobLogDir(dir, app, id), fmt.Sprintf("%d.log", seq))
}

// LogSeq is the attempt number of a log file's name (SEQ.log), if it is one.
func LogSeq(name string) (int64, bool) {
	num, ok := strings.CutSuffix(name, ".log")
	seq, err := strconv.ParseInt(num, 10, 64)
	return seq, ok && err == nil && seq > 0
}
