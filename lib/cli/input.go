package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
)

// Record is one input record: a job of an app, and where it came from.
type Record struct {
	App   string
	JobID string
	Where string // "stdin:3" or "argument 2"
}

// MaxLine is the longest input line accepted.
const MaxLine = 1 << 20

// Records yields every record: the job ids of -job-id (JobIDFlag) and
// the arguments if there are any, else the lines of stdin. A line holding a TAB is a record APP<TAB>JOB_ID (fields
// after the second are ignored); a line without one is a bare job id of
// app (-a), which must then be set. Blank lines are skipped. A malformed
// record comes with its error; a read error of stdin comes last, with a
// record that has only Where ("stdin").
func (t *Tool) Records(app string, args []string) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for _, id := range t.jobIDs {
			if !yield(makeRecord(app, id, "-job-id")) {
				return
			}
		}
		if len(args) > 0 || len(t.jobIDs) > 0 {
			for i, a := range args {
				where := "argument " + strconv.Itoa(i+1)
				if name, ok := t.flagLike(a); ok {
					if !yield(Record{App: app, JobID: a, Where: where}, fmt.Errorf("%s: %q is a flag: flags go before job ids", where, "-"+name)) {
						return
					}
					continue
				}
				if !yield(makeRecord(app, a, where)) {
					return
				}
			}
			return
		}
		lr := newLineReader(t.Stdin)
		for {
			line, long, err := lr.next()
			switch {
			case err == io.EOF:
				return
			case err != nil:
				yield(Record{Where: "stdin"}, fmt.Errorf("stdin: %v", err))
				return
			}
			where := "stdin:" + strconv.Itoa(lr.n)
			if long {
				if !yield(Record{App: app, Where: where}, fmt.Errorf("%s: line longer than %d bytes, skipped", where, MaxLine)) {
					return
				}
				continue
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			if !yield(makeRecord(app, line, where)) {
				return
			}
		}
	}
}

// Jobs is the one loop of the tools that read jobs: it yields the records
// of app and args (Records) that resolve turns into jobs, each with its
// job. A malformed record, one that resolve refuses (its error prefixed
// with where the record came from) and a read error are reported (Report)
// as they come, and the records after them go on.
func Jobs[J any](t *Tool, app string, args []string, resolve func(Record) (J, error)) iter.Seq2[Record, J] {
	return func(yield func(Record, J) bool) {
		for r, err := range t.Records(app, args) {
			if err != nil {
				t.Report(err)
				continue
			}
			j, err := resolve(r)
			if err != nil {
				t.Report(fmt.Errorf("%s: %w", r.Where, err))
				continue
			}
			if !yield(r, j) {
				return
			}
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
