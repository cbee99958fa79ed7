#!/bin/sh
# The whole test suite, on a fresh machine: installs the test servers
# (Debian's zookeeper and redis-server), mandoc and graphviz (dot, which
# draws stolos-graph's output) when missing and when it
# can (root with apt-get), then vets, checks formatting, runs every test and
# runs each fuzz target briefly. With STOLOS_TEST_REQUIRE_SERVERS=1 (CI), a
# test that needs a missing server fails instead of skipping.
set -eu
cd "$(dirname "$0")/../.."

missing=""
for pkg in zookeeper redis-server mandoc graphviz; do
	dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "test.sh: installing$missing" >&2
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
	else
		echo "test.sh: warning: missing$missing (not root, or no apt-get): tests that need them skip, or fail under STOLOS_TEST_REQUIRE_SERVERS=1" >&2
	fi
fi

unformatted=$(gofmt -l cmd lib ./*.go)
if [ -n "$unformatted" ]; then
	echo "test.sh: gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...
go test -count=1 -timeout 15m ./...

# Each fuzz target briefly; a failing input lands in the package's
# testdata/fuzz, to be committed. The budget is a count of executions, not
# a duration: with a duration, Go 1.26's fuzz coordinator can fail a target
# with "context deadline exceeded" at the deadline on a loaded machine,
# having found nothing (go.dev/issue/75804, fixed in Go 1.27).
fuzztime=${STOLOS_FUZZTIME:-20000x}
for pkg in $(go list ./lib/...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg"
	done
done
