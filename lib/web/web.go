// Package web is stolos-web: a read-only status page over the queue
// backend, served over HTTP (127.0.0.1 by default). It reads the
// configuration and job state and writes HTML: the apps with their counts
// by state (/), an app's jobs a page at a time with filters and the app
// graph (/app/APP), a job's state, why it waits, its attempts with their
// logs, its parents and children (/job/APP/JOB_ID). It answers GET and
// HEAD only and holds no method that changes state (Reader). On start it
// writes the address it serves, http://HOST:PORT/, on stdout. See
// stolos-web(1).
package web

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/stolos-sched/stolos/lib/cli"
	"github.com/stolos-sched/stolos/lib/sched"
)

// DefaultListen is the address of -listen: this machine only.
const DefaultListen = "127.0.0.1:8780"

type flags struct {
	Listen string
	Setup  sched.Setup
}

func newTool(stdin io.Reader, stdout, stderr io.Writer) (*cli.Tool, *flags) {
	t := cli.New("stolos-web", "stolos-web [-listen ADDR]", stdin, stdout, stderr)
	f := &flags{}
	t.Flags.StringVar(&f.Listen, "listen", DefaultListen, "serve the pages on `ADDR`: HOST:PORT, or a port alone on 127.0.0.1 (port 0: any free one) (env STOLOS_LISTEN)")
	t.QuietFlag()
	f.Setup.Register(t.Flags)
	t.Signals = []os.Signal{os.Interrupt, syscall.SIGTERM}
	return t, f
}

// command is stolos-web.
var command = cli.Command[*flags]{New: newTool, Run: run}

// Tool returns the tool with its flags registered, for documentation checks.
func Tool() *cli.Tool { return command.Tool() }

// Main runs stolos-web.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return command.Main(args, stdin, stdout, stderr)
}

// run opens the backend, listens, writes the address and serves until a
// signal ends ctx.
func run(ctx context.Context, t *cli.Tool, f *flags, rest []string) error {
	if err := cli.NoArgs(rest); err != nil {
		return err
	}
	addr, err := cli.ListenAddr(f.Listen)
	if err != nil {
		return cli.Usagef("-listen %q: %v", f.Listen, err)
	}
	s, err := f.Setup.Open(ctx, "", t.Warnf)
	if err != nil {
		return err
	}
	defer s.Close()
	opt := Options{}
	if path, err := exec.LookPath("dot"); err == nil {
		opt.Dot = path
	}
	h, err := New(s.Cfg, s, opt)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("-listen: %v", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(t.Stdout, "http://%s/\n", ln.Addr())
	if err := t.Stdout.Flush(); err != nil {
		ln.Close()
		return err
	}
	return cli.Serve(ctx, srv, ln)
}
