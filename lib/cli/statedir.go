package cli

import (
	"errors"
	"os"
	"path/filepath"
)

// StateDir is where stolos keeps what it writes on this machine when not
// told where (the local backend's file, the attempts' logs):
// $XDG_STATE_HOME/stolos, else $HOME/.local/state/stolos. It is not
// created.
func StateDir() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("no XDG_STATE_HOME or HOME to put it under")
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "stolos"), nil
}
