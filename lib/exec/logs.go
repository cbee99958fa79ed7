package exec

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/store"
)

// StderrLog is the -log-dir that sends the commands' output to
// stolos-exec's standard error instead of files.
const StderrLog = "-"

// logDir is the directory of the attempts' logs that -log-dir names: it
// if given, none ("") for StderrLog, else the default, log under
// cli.StateDir ($XDG_STATE_HOME/stolos/log, else
// ~/.local/state/stolos/log).
func logDir(flag string) (string, error) {
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

// openLog creates DIR/APP/JOB_ID/SEQ.log (names escaped) for attempt seq
// (store.Attempt.Seq: never reset, so a log is never another attempt's).
func openLog(dir, app, id string, seq int64) (*os.File, string, error) {
	d := filepath.Join(dir, url.PathEscape(app), url.PathEscape(id))
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, "", fmt.Errorf("log dir: %v", err)
	}
	path := filepath.Join(d, fmt.Sprintf("%d.log", seq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("log file: %v", err)
	}
	return f, path, nil
}

// pruneLog removes, once the attempt of l is recorded, the logs in its
// directory of the attempts numbered l.Seq - keep or less, whose records
// the history has dropped (best effort: it no longer names them). Not
// before: an attempt that is never recorded (its worker died) drops no
// record, and its job's history and logs still agree. The logs of
// attempts recorded without this worker's help (abandoned ones) go too.
func (w *worker) pruneLog(l store.Lease) {
	_, path, ok := strings.Cut(l.Log, ":")
	last := l.Seq - w.keep()
	if !ok || last <= 0 {
		return
	}
	dir := filepath.Dir(path)
	names, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range names {
		num, ok := strings.CutSuffix(e.Name(), ".log")
		if seq, err := strconv.ParseInt(num, 10, 64); ok && err == nil && seq <= last {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// keep is how many attempts the history keeps per job (-history-keep).
// Zero (flags set up without their defaults) is store.DefaultKeep, as
// for the backend.
func (w *worker) keep() int64 {
	if k := w.f.Setup.QB.Keep; k > 0 {
		return int64(k)
	}
	return store.DefaultKeep
}
