package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// The HTTP servers of the tools that serve (stolos-web, stolos-metrics)
// share their -listen address's form and their life: served until a
// signal ends the tool's context, then shut down gently.

// ListenAddr is the address a -listen flag names: HOST:PORT, or a port
// alone (PORT, :PORT) on the loopback address, so that a bare port never
// opens a server to other machines (name a host, 0.0.0.0:PORT, for that).
// The port is a number, 0 for any free port.
func ListenAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = "", s
	}
	if port == "" {
		return "", errors.New("no port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("bad port %q (want 0 to 65535)", port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// ShutdownGrace is how long a server whose context ended lets the
// requests in progress finish.
const ShutdownGrace = 5 * time.Second

// Serve serves srv on ln until ctx ends (the tool's signals), then shuts
// it down, giving the requests in progress ShutdownGrace; it returns nil
// after a clean shutdown, else the error that stopped it.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
