//go:build linux

package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watch watches a file for writes (through its directory, so that the
// file may be replaced). The channel gets a value (nil) for each batch of such
// events; it is closed, after an error value, if watching fails. stop ends
// the watch.
func watch(path string) (<-chan error, func(), error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("inotify: %w", err)
	}
	dir, base := filepath.Dir(path), filepath.Base(path)
	const mask = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE | unix.IN_CREATE | unix.IN_MOVED_TO
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("inotify %s: %w", dir, err)
	}
	// A non-blocking descriptor makes an *os.File that uses the runtime
	// poller, so that Close ends a pending Read.
	f := os.NewFile(uintptr(fd), "inotify")
	ch := make(chan error, 1)
	go func() {
		buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.PathMax))
		for {
			n, err := f.Read(buf)
			if err != nil {
				if !errors.Is(err, os.ErrClosed) {
					select {
					case ch <- err:
					default:
					}
				}
				close(ch)
				return
			}
			if names(buf[:n], base) {
				select {
				case ch <- nil:
				default: // a wake-up is already pending
				}
			}
		}
	}()
	return ch, func() { f.Close() }, nil
}

// names reports whether a batch of inotify events names the file base (or
// events were lost).
func names(buf []byte, base string) bool {
	for off := 0; off+unix.SizeofInotifyEvent <= len(buf); {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
		off += unix.SizeofInotifyEvent + int(ev.Len)
		n := strings.TrimRight(string(name), "\x00")
		if n == base || ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			return true
		}
	}
	return false
}
