package config

import (
	"testing"
	"time"
)

func TestReady(t *testing.T) {
	for _, tc := range []struct {
		keys          string
		cmd           string
		poll, timeout time.Duration
		err           string
	}{
		{``, "", DefaultReadyPoll, DefaultReadyTimeout, ""},
		{`"ready_cmd": "test -e /in/{n}"`, "test -e /in/{n}", DefaultReadyPoll, DefaultReadyTimeout, ""},
		{`"ready_cmd": "x {job_id}", "ready_poll": "5s", "ready_timeout": "6h"`, "x {job_id}", 5 * time.Second, 6 * time.Hour, ""},
		{`"ready_cmd": "x {m}"`, "", 0, 0, `app a: ready_cmd: placeholder {m} is not an identifier of the template "{n}", nor app_name or job_id (write {{ and }} for literal braces)`},
		{`"ready_cmd": 3`, "", 0, 0, `app a: ready_cmd: want a string, found a number`},
		{`"ready_poll": "1m"`, "", 0, 0, `app a: ready_poll: needs a ready_cmd`},
		{`"ready_timeout": "1h"`, "", 0, 0, `app a: ready_timeout: needs a ready_cmd`},
		{`"ready_cmd": "x", "ready_poll": "0s"`, "", 0, 0, `app a: ready_poll: want a duration of more than 0, such as "1m" or "6h"`},
		{`"ready_cmd": "x", "ready_timeout": ""`, "", 0, 0, `app a: ready_timeout: want a duration of more than 0, such as "1m" or "6h"`},
		{`"ready_cmd": "x", "ready_timeout": "soon"`, "", 0, 0, `app a: ready_timeout: want a duration such as "30s" or "5m", found "soon"`},
	} {
		src := `{"a": {"job_id": "{n}"`
		if tc.keys != "" {
			src += ", " + tc.keys
		}
		src += "}}"
		c, err := Parse([]byte(src), Options{})
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.keys, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.keys, err)
			continue
		}
		e := c.App("a").Exec
		if e.ReadyCmd != tc.cmd || e.ReadyPoll != tc.poll || e.ReadyTimeout != tc.timeout {
			t.Errorf("%s: %q %v %v, want %q %v %v", tc.keys, e.ReadyCmd, e.ReadyPoll, e.ReadyTimeout, tc.cmd, tc.poll, tc.timeout)
		}
	}
}
