// Package testenv decides what a test does when something it needs from
// the machine (a server such as ZooKeeper or Redis, a tool such as dot,
// promtool or chromium) is missing: it skips, saying so, or it fails when
// the environment sets STOLOS_TEST_REQUIRE_SERVERS=1 (CI does), so that no
// test skips silently and none skips at all in CI.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// RequireEnv is the environment variable that turns a missing server or
// tool from a skip into a failure.
const RequireEnv = "STOLOS_TEST_REQUIRE_SERVERS"

// Required reports whether a missing server or tool fails a test
// (RequireEnv is 1).
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Unavailable skips tb, or fails it when Required, because of why (what is
// missing and how to get it).
func Unavailable(tb testing.TB, why error) {
	tb.Helper()
	if Required() {
		tb.Fatalf("%v, and %s=1", why, RequireEnv)
	}
	tb.Skipf("SKIPPING: %v (or set %s=1 to make this a failure)", why, RequireEnv)
}

// ToolMissing says why the command name cannot run (nil when it can):
// it is not in PATH, and Debian's package pkg has it.
func ToolMissing(name, pkg string) error {
	if _, err := exec.LookPath(name); err != nil {
		return fmt.Errorf("%s is not installed (install the %s package)", name, pkg)
	}
	return nil
}

// RequireTool skips or fails tb (see Unavailable) when the command name,
// from Debian's package pkg, cannot run.
func RequireTool(tb testing.TB, name, pkg string) {
	tb.Helper()
	if err := ToolMissing(name, pkg); err != nil {
		Unavailable(tb, err)
	}
}

// Condition answers a testscript condition on a tool: whether it can run;
// when it cannot and Required, an error, which fails the script.
func Condition(name, pkg string) (bool, error) {
	err := ToolMissing(name, pkg)
	if err != nil && Required() {
		return false, fmt.Errorf("%v, and %s=1", err, RequireEnv)
	}
	return err == nil, nil
}
