package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// startupRuns is the number of runs of each command of measurement 10.
const startupRuns = 50

// bigApp is an app no measured call touches, with a million autofill
// values: it is appended to the examples for measurement 10.
const bigApp = `"unrelated_big": {"job_id": "{date}_{client_id}", "autofill_values": {"client_id": "0:1000000"}}`

// ---- 10: start-up does not grow with an unrelated app's autofill_values

// startup times one stolos-parents call on the examples, with and without
// an unrelated app of 1M autofill values in the same tasks.json, the two
// in turn so that drift of the machine's speed hits both alike.
func (h *harness) startup() error {
	data, err := os.ReadFile(filepath.Join(h.examples, "tasks.json"))
	if err != nil {
		return fmt.Errorf("examples missing: %v", err)
	}
	end := bytes.LastIndexByte(data, '}')
	if end < 0 {
		return fmt.Errorf("%s: not a JSON object", filepath.Join(h.examples, "tasks.json"))
	}
	big := slices.Concat(data[:end], []byte(",\n"+bigApp+"\n}\n"))
	bigPath := filepath.Join(h.work, "tasks-big.json")
	if err := os.WriteFile(bigPath, big, 0o644); err != nil {
		return err
	}
	env := func(tasks string) []string {
		return append(slices.Clip(h.baseEnv),
			"STOLOS_TASKS_JSON="+tasks,
			"STOLOS_JOB_ID_VALIDATIONS="+filepath.Join(h.examples, "validations.json"),
			"STOLOS_JOB_ID_DEFAULT_TEMPLATE="+exampleTmpl)
	}
	small, large := env(filepath.Join(h.examples, "tasks.json")), env(bigPath)
	// Both answer the same, and the big config loads.
	var a, b bytes.Buffer
	if _, err := run(h.tool(small, "stolos-parents", "-a", exampleApp, exampleJobID), "", &a); err != nil {
		return err
	}
	if _, err := run(h.tool(large, "stolos-parents", "-a", exampleApp, exampleJobID), "", &b); err != nil {
		return err
	}
	if a.Len() == 0 || !bytes.Equal(a.Bytes(), b.Bytes()) {
		return fmt.Errorf("stolos-parents answers %q without the big app, %q with it", a.String(), b.String())
	}
	var without, with []time.Duration
	var rss [2]int64 // the largest peak resident set of each, in KiB
	for range startupRuns {
		for i, env := range [][]string{small, large} {
			cmd := h.tool(env, "stolos-parents", "-a", exampleApp, exampleJobID)
			d, err := run(cmd, "", nil)
			if err != nil {
				return err
			}
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				rss[i] = max(rss[i], ru.Maxrss)
			}
			if i == 0 {
				without = append(without, d)
			} else {
				with = append(with, d)
			}
		}
	}
	m0, m1 := median(without), median(with)
	ratio := float64(m1) / float64(m0)
	note("stolos-parents -a %s %s, fork+exec+wait from Go, %d runs of each in turn: median %s and peak RSS %.1f MiB on the examples, %s and %.1f MiB with an unrelated app of autofill_values \"0:1000000\" added",
		exampleApp, exampleJobID, startupRuns, ms(m0), float64(rss[0])/1024, ms(m1), float64(rss[1])/1024)
	h.add(result{"10", "start-up with an unrelated 1M-value autofill app, vs without", "", fmt.Sprintf("%.2fx", ratio), "<= 1.2x", met(ratio <= 1.2)})
	return nil
}
