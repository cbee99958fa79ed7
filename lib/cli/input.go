package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/stolos-sched/stolos/lib/config"
)

// Record is one input record: a job of an app, and where it came from.
type Record struct {
	App   string
	JobID string
	Where string // "stdin:3" or "argument 2"
}

// MaxLine is the longest input line accepted.
const MaxLine = 1 << 20

// Records calls fn for every record: the arguments if there are any, else
// the lines of stdin. A line holding a TAB is a record APP<TAB>JOB_ID
// (fields after the second are ignored); a line without one is a bare job
// id of app (-a), which must then be set. Blank lines are skipped. Records
// that are malformed go to fn with their error in bad; fn returns false to
// stop. The error is a read error of stdin.
func (t *Tool) Records(app string, args []string, fn func(r Record, bad error) bool) error {
	if len(args) > 0 {
		for i, a := range args {
			where := "argument " + strconv.Itoa(i+1)
			if name, ok := t.flagLike(a); ok {
				if !fn(Record{App: app, JobID: a, Where: where}, fmt.Errorf("%s: %q is a flag: flags go before job ids", where, "-"+name)) {
					return nil
				}
				continue
			}
			r, err := makeRecord(app, a, where)
			if !fn(r, err) {
				return nil
			}
		}
		return nil
	}
	lr := newLineReader(t.Stdin)
	for {
		line, long, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("stdin: %v", err)
		}
		where := "stdin:" + strconv.Itoa(lr.n)
		if long {
			if !fn(Record{App: app, Where: where}, fmt.Errorf("%s: line longer than %d bytes, skipped", where, MaxLine)) {
				return nil
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		r, err := makeRecord(app, line, where)
		if !fn(r, err) {
			return nil
		}
	}
}

// lineReader reads lines of at most MaxLine bytes, without their "\n" or
// "\r\n"; a longer line is read to its end and reported as long.
type lineReader struct {
	br  *bufio.Reader
	buf []byte
	n   int // the number of the last line read
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line, or long when it is longer than MaxLine, or
// io.EOF after the last line.
func (lr *lineReader) next() (line string, long bool, err error) {
	lr.buf = lr.buf[:0]
	for {
		frag, err := lr.br.ReadSlice('\n')
		if !long {
			if len(lr.buf)+len(frag) > MaxLine+2 { // room for "\r\n"
				long, lr.buf = true, lr.buf[:0]
			} else {
				lr.buf = append(lr.buf, frag...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && (long || len(lr.buf) > 0):
			// A last line without a newline.
		case err != nil:
			return "", false, err
		}
		lr.n++
		b := bytes.TrimSuffix(lr.buf, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(b) > MaxLine {
			long = true
		}
		if long {
			return "", true, nil
		}
		return string(b), false, nil
	}
}

func makeRecord(app, line, where string) (Record, error) {
	r := Record{App: app, Where: where}
	a, rest, isRecord := strings.Cut(line, "\t")
	if !isRecord {
		r.JobID = line
		if app == "" {
			return r, fmt.Errorf("%s: bare job id %q needs -a APP (or write APP<TAB>JOB_ID)", where, line)
		}
		return r, nil
	}
	id, _, _ := strings.Cut(rest, "\t")
	r.JobID = id
	if app != "" && a != app {
		return r, fmt.Errorf("%s: record of app %q, but -a is %q", where, a, app)
	}
	r.App = a
	return r, nil
}

// Job resolves a record against the config: the app, the canonical job id
// and its identifier values. The error names the input line, the app and
// its template.
func Job(c *config.Config, r Record) (*config.App, string, []string, error) {
	a := c.App(r.App)
	if a == nil {
		return nil, "", nil, fmt.Errorf("%s: unknown app %q", r.Where, r.App)
	}
	id, vals, err := a.Parser.Canonical(r.JobID)
	if err != nil {
		return nil, "", nil, fmt.Errorf("%s: invalid job id %q for app %s (template %q): %v", r.Where, r.JobID, a.Name, a.Template.Text, err)
	}
	return a, id, vals, nil
}

// flagLike reports whether an argument names one of the tool's flags
// ("-json", "--set=failed"): a flag written after the job ids, which the
// flag package would take for a job id.
func (t *Tool) flagLike(arg string) (string, bool) {
	if !strings.HasPrefix(arg, "-") {
		return "", false
	}
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return name, name != "" && t.Flags.Lookup(name) != nil
}
