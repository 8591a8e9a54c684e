#!/usr/bin/env bash
# Runs the main example from a build tree: `make demo` calls it after building.
#   usage: scripts/run-demo.sh [build-dir]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
"$build/examples/quickstart" "$build/graph.svg"
