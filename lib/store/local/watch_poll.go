package local

import "time"

// pollEvery is how often, without inotify, a Wait re-reads its app's queue
// generation.
const pollEvery = 100 * time.Millisecond

// pollWatch is watch without inotify (outside Linux): it sends a value
// (nil) every pollEvery whatever happened, and the Wait re-reads the queue
// generation on each. (The bell is touched without being written, so
// nothing short of inotify's close-after-write event shows it.) stop ends
// the ticks; the channel is never closed.
func pollWatch(string) (<-chan error, func(), error) {
	ch := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				select {
				case ch <- nil:
				default: // a wake-up is already pending
				}
			}
		}
	}()
	return ch, func() { close(done) }, nil
}
