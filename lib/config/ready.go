package config

import (
	"encoding/json"
	"time"
)

// The defaults of a sensor's keys (see Exec.ReadyCmd).
const (
	DefaultReadyPoll    = time.Minute
	DefaultReadyTimeout = 24 * time.Hour
)

// parseReady reads an app's sensor: ready_cmd (a command template, as
// bash_cmd), ready_poll and ready_timeout (positive durations, only with
// ready_cmd). str and dur read a key as parseExec does.
func parseReady(a *App, get func(string) (json.RawMessage, bool), str func(string, *string) error, dur func(string, *time.Duration) error) error {
	if err := str("ready_cmd", &a.Exec.ReadyCmd); err != nil {
		return err
	}
	if err := checkPlaceholders(a, "ready_cmd", a.Exec.ReadyCmd); err != nil {
		return err
	}
	a.Exec.ReadyPoll, a.Exec.ReadyTimeout = DefaultReadyPoll, DefaultReadyTimeout
	for _, k := range []struct {
		key string
		dst *time.Duration
	}{{"ready_poll", &a.Exec.ReadyPoll}, {"ready_timeout", &a.Exec.ReadyTimeout}} {
		if _, ok := get(k.key); !ok {
			continue
		}
		if a.Exec.ReadyCmd == "" {
			return errf(a.Name, k.key, "needs a ready_cmd")
		}
		var d time.Duration = -1
		if err := dur(k.key, &d); err != nil {
			return err
		}
		if d <= 0 {
			return errf(a.Name, k.key, "want a duration of more than 0, such as \"1m\" or \"6h\"")
		}
		*k.dst = d
	}
	return nil
}
