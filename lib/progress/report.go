package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Counts are the jobs of an app, or of the whole set, by status.
type Counts struct {
	App   string // "" for the whole set
	Total int
	By    [nStatus]int
}

// Report is what one poll found.
type Report struct {
	Time      time.Time
	Apps      []Counts // in configuration order
	All       Counts
	PerMinute float64       // completions per minute (see Window)
	ETA       time.Duration // at that rate, until the jobs that will move are completed; -1: unknown
}

// Left is the number of jobs that will move without anyone's help.
func (c Counts) Left() int { return c.By[Running] + c.By[Queued] + c.By[Waiting] }

// report counts the statuses of a poll.
func (p *poller) report(status []Status, now time.Time) Report {
	r := Report{Time: now, Apps: make([]Counts, len(p.apps)), ETA: -1}
	for i, a := range p.apps {
		r.Apps[i].App = a
	}
	for i, s := range status {
		c := &r.Apps[p.app[i]]
		c.Total++
		c.By[s]++
		r.All.Total++
		r.All.By[s]++
	}
	r.PerMinute = p.perMinute(now)
	switch left := r.All.Left(); {
	case left == 0:
		r.ETA = 0
	case r.PerMinute > 0:
		r.ETA = time.Duration(float64(left) / r.PerMinute * float64(time.Minute)).Round(time.Second)
	}
	return r
}

// counts is "4 completed, 1 running, 2 waiting": the statuses that have
// jobs, in display order.
func (c Counts) counts() string {
	var parts []string
	for s, n := range c.By {
		if n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+Status(s).String())
		}
	}
	if len(parts) == 0 {
		return "no jobs"
	}
	return strings.Join(parts, ", ")
}

func (r Report) rate() string {
	return strconv.FormatFloat(r.PerMinute, 'f', 1, 64) + "/min"
}

func (r Report) eta() string {
	if r.ETA < 0 {
		return "unknown"
	}
	return r.ETA.String()
}

// writePlain writes the report as lines: per app
// APP<TAB>COMPLETED/TOTAL<TAB>COUNTS, then the whole set's, as app "all",
// with two more fields, the rate and the ETA.
func (r Report) writePlain(w io.Writer) error {
	var b strings.Builder
	for _, c := range r.Apps {
		fmt.Fprintf(&b, "%s\t%d/%d\t%s\n", c.App, c.By[Completed], c.Total, c.counts())
	}
	fmt.Fprintf(&b, "all\t%d/%d\t%s\trate %s\teta %s\n", r.All.By[Completed], r.All.Total, r.All.counts(), r.rate(), r.eta())
	_, err := io.WriteString(w, b.String())
	return err
}

// jsonCounts is Counts in JSON: every status, zero or not.
type jsonCounts struct {
	App       string `json:"app,omitempty"`
	Total     int    `json:"total"`
	Completed int    `json:"completed"`
	Running   int    `json:"running"`
	Queued    int    `json:"queued"`
	Waiting   int    `json:"waiting"`
	Failed    int    `json:"failed"`
	Skipped   int    `json:"skipped"`
	Blocked   int    `json:"blocked"`
	Unqueued  int    `json:"unqueued"`
}

func (c Counts) json() jsonCounts {
	return jsonCounts{c.App, c.Total, c.By[Completed], c.By[Running], c.By[Queued], c.By[Waiting],
		c.By[Failed], c.By[Skipped], c.By[Blocked], c.By[Unqueued]}
}

// writeJSON writes the report as one JSON object on a line.
func (r Report) writeJSON(w io.Writer) error {
	v := struct {
		Time       string       `json:"time"`
		Apps       []jsonCounts `json:"apps"`
		All        jsonCounts   `json:"all"`
		PerMinute  float64      `json:"per_minute"`
		ETASeconds *int64       `json:"eta_seconds"` // null: unknown
	}{Time: r.Time.UTC().Format(time.RFC3339), Apps: make([]jsonCounts, len(r.Apps)), All: r.All.json(),
		PerMinute: math.Round(r.PerMinute*10) / 10}
	for i, c := range r.Apps {
		v.Apps[i] = c.json()
	}
	if r.ETA >= 0 {
		eta := int64(r.ETA / time.Second)
		v.ETASeconds = &eta
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// BarWidth is the width of a progress bar, in characters.
const BarWidth = 24

// tty draws reports on a terminal, each over the one before.
type tty struct {
	w     io.Writer
	cols  int // the terminal's width; 0: unknown
	lines int // the lines the last report drew
}

// draw writes the report as a block of lines, one per app and one for
// the whole set, each with a bar of its completed jobs, after moving the
// cursor up over the last block and clearing the screen from there.
func (t *tty) draw(r Report) error {
	var b strings.Builder
	if t.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\r\x1b[J", t.lines)
	}
	width := len("all")
	for _, c := range r.Apps {
		width = max(width, len(c.App))
	}
	var lines []string
	line := func(name string, c Counts, tail string) {
		fill := 0
		if c.Total > 0 {
			fill = c.By[Completed] * BarWidth / c.Total
		}
		pct := 0
		if c.Total > 0 {
			pct = c.By[Completed] * 100 / c.Total
		}
		head := fmt.Sprintf("%-*s [%s%s] %3d%% %d/%d  ", width, name,
			strings.Repeat("#", fill), strings.Repeat(".", BarWidth-fill), pct, c.By[Completed], c.Total)
		counts := c.counts()
		l := head + counts + tail
		// A line as wide as the terminal would wrap, and the next
		// report would not move up over all of it: the counts are
		// cut ("...") or left out, then what is left.
		if t.cols > 0 && len(l) >= t.cols {
			if keep := t.cols - 1 - len(head) - len(tail) - 3; keep > 0 {
				l = head + counts[:keep] + "..." + tail
			} else {
				l = head + strings.TrimPrefix(tail, "; ")
			}
			l = l[:min(len(l), t.cols-1)]
		}
		lines = append(lines, l)
	}
	for _, c := range r.Apps {
		line(c.App, c, "")
	}
	line("all", r.All, fmt.Sprintf("; %s, eta %s", r.rate(), r.eta()))
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	t.lines = len(lines)
	_, err := io.WriteString(t.w, b.String())
	return err
}
