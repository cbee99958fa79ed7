package zookeeper

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/stolos-sched/stolos/lib/store"
)

// The tree under the chroot (every name escaped by escapeName):
//
//	/apps/<app>                        the app
//	/apps/<app>/notify                 bumped by every change that makes work claimable (Wait watches it)
//	/apps/<app>/seq                    its data version numbers blocks of queue positions
//	/apps/<app>/jobs/<bkt>/<job_id>    one node per job; its data is the job (jobData)
//	/apps/<app>/queue/<prio>/<p1>/<p2>/<p3>/<pos>_<ms>_<job_id>
//	                                   one node per queued job, at its queue position
//	/apps/<app>/fanin/<bkt>/<job_id>   the fan-in record of a child with several parents
//	/apps/<app>/fanin/<bkt>/<job_id>/s<i>
//	                                   its shards, when it has more than one
//	/apps/<app>/fanin/<bkt>/<job_id>/[s<i>/]<parent_app>%09<parent_id>
//	                                   one node per parent of the set, in its shard
//	/bubble/<app>%09<job_id>           the marker of an unfinished bubble-down of the job
//
// A record's parents fall in shards by a hash of their names, about
// shardParents in each (fanin.go), and at most maxShards shards, so that
// no record or shard nears maxChildren below a million parents.
//
// Job nodes spread over jobBuckets buckets by a hash of the job id, so an
// app holds about jobBuckets*maxChildren jobs before any bucket nears the
// bound (1,000,000 jobs: about 980 per bucket).
//
// A queue entry's path is its priority and its position. A position is a
// posBits-bit number (posBlockBits low bits within a block allocated from
// seq, the seq version above them; a backend takes the positions of one
// block for at most blockFresh, so entries of equal priority queued by
// different processes within a second may come out in either order), cut
// into chunks of posChunkBits bits
// (at most 256 entries under a node) and three levels of posLevelBits bits
// above them (at most 2048 children each), so no queue node has more than
// 2048 children whatever the number of entries, and the head of the queue is
// found by listing the first child of each level. The upper levels change
// rarely and are cached (under child watches); Claim lists afresh only the
// queue node (priorities) and the head chunk, whose size does not depend on
// the length of the queue. An entry's name also carries the time in Unix milliseconds before
// which it is not claimable (while its job is claimed, the lease's end; a
// retry delay; else 0), so that Claim skips claimed entries from the listing
// alone, and the job id, so that Claim finds the job without reading the
// entry. The number of priority nodes is the number of distinct priorities
// in use; empty queue nodes are removed by Claim as it meets them.
const (
	jobBuckets   = 1024
	posBlockBits = 10                // positions allocated per seq bump
	posChunkBits = 8                 // entries per chunk: 256
	posLevelBits = 11                // children per upper queue level: 2048
	posBits      = 31 + posBlockBits // = posChunkBits + 3*posLevelBits
	maxChildren  = 10000             // the bound no node may exceed
)

// escapeName turns any string into a znode name, reversibly: bytes outside
// [A-Za-z0-9_.,:=@+-] become %XX, and a name made only of dots is escaped
// entirely ("." and ".." are not valid znode names).
func escapeName(s string) string {
	allDots := strings.Trim(s, ".") == ""
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !allDots && safeByte(c) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func safeByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("_.,:=@+-", c) >= 0
}

// unescapeName reverses escapeName.
func unescapeName(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escaped name %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escaped name %q", s)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// jobBucket is the bucket of a job id.
func jobBucket(jobID string) int {
	h := fnv.New32a()
	h.Write([]byte(jobID))
	return int(h.Sum32() % jobBuckets)
}

// paths builds the paths of one backend (under its chroot).
type paths struct{ root string }

func (p paths) apps() string             { return p.root + "/apps" }
func (p paths) bubble() string           { return p.root + "/bubble" }
func (p paths) fanins(app string) string { return p.app(app) + "/fanin" }
func (p paths) app(app string) string    { return p.apps() + "/" + escapeName(app) }
func (p paths) notify(app string) string { return p.app(app) + "/notify" }
func (p paths) seq(app string) string    { return p.app(app) + "/seq" }
func (p paths) jobs(app string) string   { return p.app(app) + "/jobs" }
func (p paths) queue(app string) string  { return p.app(app) + "/queue" }
func (p paths) bucket(r store.Ref) string {
	return p.jobs(r.App) + "/" + bucketName(jobBucket(r.JobID))
}

// record is the path of a child's fan-in record.
func (p paths) record(r store.Ref) string {
	return p.fanins(r.App) + "/" + bucketName(jobBucket(r.JobID)) + "/" + escapeName(r.JobID)
}

// refName is the node name of a job in a fan-in record or a marker:
// its app and job id, which hold no tab, joined by one.
func refName(r store.Ref) string { return escapeName(r.App + "\t" + r.JobID) }

// parseRefName reverses refName.
func parseRefName(s string) (store.Ref, error) {
	v, err := unescapeName(s)
	if err != nil {
		return store.Ref{}, err
	}
	app, id, ok := strings.Cut(v, "\t")
	if !ok {
		return store.Ref{}, fmt.Errorf("bad job name %q", s)
	}
	return store.Ref{App: app, JobID: id}, nil
}

// marker is the path of the marker of an unfinished bubble-down.
func (p paths) marker(r store.Ref) string { return p.bubble() + "/" + refName(r) }

// subName is the node name of shard i of a record.
func subName(i int) string { return fmt.Sprintf("s%x", i) }

// bucketName is the node name of job bucket i.
func bucketName(i int) string              { return fmt.Sprintf("%03x", i) }
func (p paths) job(r store.Ref) string     { return p.bucket(r) + "/" + escapeName(r.JobID) }
func (p paths) entry(app, q string) string { return p.queue(app) + "/" + q }

// prioName is a node name for a priority that sorts as the number does.
func prioName(prio int) string {
	return fmt.Sprintf("%016x", uint64(int64(prio))^(1<<63))
}

// parsePrio reverses prioName.
func parsePrio(s string) (int, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil || len(s) != 16 {
		return 0, fmt.Errorf("bad priority node %q", s)
	}
	return int(int64(v ^ (1 << 63))), nil
}

// entryName is the relative queue path of an entry:
// <prio>/<p1>/<p2>/<p3>/<pos>_<ms>_<job_id>.
func entryName(prio int, pos uint64, notBefore int64, jobID string) string {
	const mask = 1<<posLevelBits - 1
	return fmt.Sprintf("%s/%03x/%03x/%03x/%011x_%d_%s", prioName(prio),
		pos>>(posChunkBits+2*posLevelBits), (pos>>(posChunkBits+posLevelBits))&mask, (pos>>posChunkBits)&mask,
		pos, notBefore, escapeName(jobID))
}

// entry is a parsed queue entry name.
type entry struct {
	prio      int
	pos       uint64
	notBefore int64
	jobID     string
}

func (e entry) name() string { return entryName(e.prio, e.pos, e.notBefore, e.jobID) }

// parseEntry reverses entryName.
func parseEntry(q string) (entry, error) {
	bad := fmt.Errorf("bad queue entry %q", q)
	parts := strings.Split(q, "/")
	if len(parts) != 5 {
		return entry{}, bad
	}
	prio, err := parsePrio(parts[0])
	if err != nil {
		return entry{}, bad
	}
	f := strings.SplitN(parts[4], "_", 3)
	if len(f) != 3 {
		return entry{}, bad
	}
	e := entry{prio: prio}
	if e.pos, err = strconv.ParseUint(f[0], 16, 64); err != nil || e.pos >= 1<<posBits {
		return entry{}, bad
	}
	if e.notBefore, err = strconv.ParseInt(f[1], 10, 64); err != nil {
		return entry{}, bad
	}
	if e.jobID, err = unescapeName(f[2]); err != nil {
		return entry{}, bad
	}
	if e.name() != q {
		return entry{}, bad
	}
	return e, nil
}

// withNotBefore is the entry q at the same place with another not-before.
func withNotBefore(q string, notBefore int64) string {
	e, err := parseEntry(q)
	if err != nil {
		return q
	}
	e.notBefore = notBefore
	return e.name()
}
