// Package metrics is stolos-metrics: it writes, in Prometheus's text
// exposition format, the numbers of each app's jobs by state, queued and
// claimed, read from the queue backend with one Count per app, and the
// attempts that ended in the last -window (from the attempt history), by
// result, with a histogram of their durations. It writes them once, on
// stdout or (-o) atomically into a file for node_exporter's textfile
// collector, or serves them over HTTP (-listen), computed afresh at each
// scrape. It reads the configuration and the backend and changes nothing.
// See stolos-metrics(1).
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/sched"
)

// DefaultWindow is the default of -window.
const DefaultWindow = time.Hour

// MaxScrapes is how many scrapes -listen serves at once; more are refused
// (503), so that scrapes cannot pile up on the backend.
const MaxScrapes = 4

type flags struct {
	App    string
	Window time.Duration
	Out    string
	Listen string
	Setup  sched.Setup
}

func newTool(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	t := cli.New("stolos-metrics", "stolos-metrics [-a APP] [-window D] [-o FILE | -listen ADDR]", stdin, stdout, stderr)
	f := &flags{}
	t.AppFlag(&f.App, false)
	t.Flags.DurationVar(&f.Window, "window", DefaultWindow, "the stolos_window_* metrics count the attempts that ended in the last `D`; 0 leaves them out (env STOLOS_WINDOW)")
	t.Flags.StringVar(&f.Out, "o", "", "write the metrics into `FILE` (a temporary file renamed over it), for node_exporter's textfile collector (env STOLOS_O)")
	t.Flags.StringVar(&f.Listen, "listen", "", "serve the metrics over HTTP at /metrics on `ADDR` (HOST:PORT; a PORT or :PORT alone listens on 127.0.0.1) until interrupted (env STOLOS_LISTEN)")
	t.QuietFlag()
	f.Setup.Register(t.Flags)
	t.Signals = []os.Signal{os.Interrupt, syscall.SIGTERM}
	return t, f
}

// command is stolos-metrics.
var command = cli.Command[*flags]{New: newTool, Run: run}

// Tool returns the tool with its flags registered, for documentation checks.
func Tool() *cli.Tool { return command.Tool() }

// Main runs stolos-metrics.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return command.Main(args, stdin, stdout, stderr)
}

// run checks the flags, opens the backend and writes or serves the
// metrics.
func run(ctx context.Context, t *cli.Tool, f *flags, rest []string) error {
	var addr string
	switch {
	case len(rest) > 0:
		return cli.NoArgs(rest)
	case f.Window < 0:
		return cli.Usagef("-window: want a duration of 0 or more, got %v", f.Window)
	case f.Out != "" && f.Listen != "":
		return cli.Usagef("use one of -o and -listen")
	case f.Listen != "":
		var err error
		if addr, err = cli.ListenAddr(f.Listen); err != nil {
			return cli.Usagef("-listen %q: %v", f.Listen, err)
		}
	}
	s, err := f.Setup.Open(ctx, f.App, t.Warnf)
	if err != nil {
		return err
	}
	defer s.Close()
	apps := s.Cfg.Names()
	if f.App != "" {
		apps = []string{f.App}
	}
	reg := newRegistry(&collector{ctx: ctx, r: s, apps: apps, window: f.Window, now: time.Now})
	switch {
	case f.Listen != "":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("-listen: %v", err)
		}
		return serve(ctx, t, reg, ln)
	case f.Out != "":
		return writeFile(f.Out, reg)
	}
	return write(t.Stdout, reg)
}

// newRegistry is a registry of c alone (not the library's default, which
// holds the Go runtime's metrics).
func newRegistry(c *collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return reg
}

// write writes the metrics of g in the text format.
func write(w io.Writer, g prometheus.Gatherer) error {
	mfs, err := g.Gather()
	if err != nil {
		return plain(err)
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes the metrics of g into path, atomically: into a
// temporary file beside it, renamed over it once complete. When gathering
// fails, path is left as it was.
func writeFile(path string, g prometheus.Gatherer) error {
	err := prometheus.WriteToTextfile(path, g)
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return fmt.Errorf("-o %s: %v", path, pe.Err)
	}
	return plain(err)
}

// serve serves the metrics of g at /metrics on ln until ctx ends; each
// scrape gathers them afresh.
func serve(ctx context.Context, t *cli.Tool, g prometheus.Gatherer, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:            &errorLog{t: t},
		ErrorHandling:       promhttp.HTTPErrorOnError,
		MaxRequestsInFlight: MaxScrapes,
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	t.Warnf("serving http://%s/metrics", ln.Addr())
	return cli.Serve(ctx, srv, ln)
}

// errorLog reports the errors of a scrape on the tool's stderr, one line
// each.
type errorLog struct {
	mu sync.Mutex
	t  *cli.Tool
}

func (l *errorLog) Println(v ...any) {
	for i, x := range v {
		if err, ok := x.(error); ok {
			v[i] = plain(err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Errorf("%s", strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}
