package progress

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// terminal says whether w is a terminal, and its width in columns (0 if
// it does not say).
func terminal(w io.Writer) (cols int, ok bool) {
	f, isFile := w.(*os.File)
	if !isFile {
		return 0, false
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, false
	}
	return int(ws.Col), true
}
