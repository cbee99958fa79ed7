package exec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stolos-sched/stolos/lib/sched"
	"github.com/stolos-sched/stolos/lib/store"
)

// openLog creates the log of attempt seq (sched.LogPath) under dir.
func openLog(dir, app, id string, seq int64) (*os.File, string, error) {
	if err := os.MkdirAll(sched.JobLogDir(dir, app, id), 0o755); err != nil {
		return nil, "", fmt.Errorf("log dir: %v", err)
	}
	path := sched.LogPath(dir, app, id, seq)
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
		if seq, ok := sched.LogSeq(e.Name()); ok && seq <= last {
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
