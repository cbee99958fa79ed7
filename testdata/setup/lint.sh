#!/bin/sh
# The static checks, one after another, stopping at the first that fails:
# gofmt, go mod tidy, go vet (for Linux and for darwin), staticcheck (the
# version go.mod pins as a tool), shellcheck of the shell scripts, mandoc
# -Tlint of the man pages, and the generated documentation's drift test.
# `make lint` runs this, and so does the test command (test.sh) before the
# tests. The bench harness (testdata/bench/harness) is checked with the
# rest: `./...` leaves out testdata.
set -eu
cd "$(dirname "$0")/../.."
GO=${GO:-go}
pkgs="./... ./testdata/bench/harness"

fail() {
	echo "lint.sh: $*" >&2
	exit 1
}
need() {
	command -v "$1" >/dev/null 2>&1 || fail "$1 is not installed (apt-get install $1)"
}

out=$(gofmt -l .)
[ -z "$out" ] || fail "gofmt would change: $out"
$GO mod tidy -diff >/dev/null || fail "go.mod or go.sum is not tidy: run go mod tidy (go mod tidy -diff shows what)"
# shellcheck disable=SC2086 # one word per package pattern
$GO vet $pkgs
# shellcheck disable=SC2086
GOOS=darwin $GO vet $pkgs
# shellcheck disable=SC2086
$GO tool staticcheck $pkgs
need shellcheck
shellcheck .ci/run testdata/*/*.sh
need mandoc
mandoc -Tlint -W warning man/*.1 man/*.7
$GO test -count=1 -run '^TestDocGenerated$' .
