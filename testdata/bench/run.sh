#!/bin/sh
# The end-to-end part of `make bench`: builds the tools and the harness
# (testdata/bench/harness), which starts its own redis-server and ZooKeeper
# on free 127.0.0.1 ports, measures the tools as real processes on every
# backend, prints each figure with its target and a summary table, and
# stops the servers. Arguments go to the harness (-only 1,4 -backends local).
set -eu
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
CGO_ENABLED=0 go build -trimpath -o "$tmp/bin/" ./cmd/...
go build -o "$tmp/harness" ./testdata/bench/harness
"$tmp/harness" -bin "$tmp/bin" -work "$tmp" "$@"
