#!/bin/sh
# The whole test suite, on a fresh machine: installs the test servers
# (Debian's zookeeper and redis-server), mandoc, shellcheck, graphviz
# (dot, which draws stolos-graph's output), prometheus (promtool, which
# checks stolos-metrics' output), zsh and fish (whose completions the
# tests run), and chromium (which loads stolos-web's pages) when missing
# and when it can
# (root with apt-get), then runs the static checks (lint.sh, as make lint
# does), every test, and each fuzz target briefly. With
# STOLOS_TEST_REQUIRE_SERVERS=1 (CI), a test that needs a missing server
# fails instead of skipping.
set -eu
cd "$(dirname "$0")/../.."

missing=""
for pkg in zookeeper redis-server mandoc shellcheck graphviz prometheus zsh fish chromium; do
	dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "test.sh: installing$missing" >&2
		apt-get update -qq >/dev/null
		# shellcheck disable=SC2086 # one word per package
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
	else
		echo "test.sh: warning: missing$missing (not root, or no apt-get): lint.sh fails without mandoc or shellcheck; tests that need a server skip, or fail under STOLOS_TEST_REQUIRE_SERVERS=1" >&2
	fi
fi

sh testdata/setup/lint.sh
go test -count=1 -timeout 15m ./...

# Each fuzz target briefly; a failing input lands in the package's
# testdata/fuzz, to be committed. The budget is a count of executions, not
# a duration: with a duration, Go 1.26's fuzz coordinator can fail a target
# with "context deadline exceeded" at the deadline on a loaded machine,
# having found nothing (go.dev/issue/75804, fixed in Go 1.27).
fuzztime=${STOLOS_FUZZTIME:-20000x}
for pkg in $(go list ./lib/...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	# shellcheck disable=SC2013 # a fuzz target's name is one word
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg"
	done
done
