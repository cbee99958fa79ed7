//go:build !linux

package local

// watch polls where there is no inotify (see pollWatch).
func watch(path string) (<-chan error, func(), error) { return pollWatch(path) }
