#!/usr/bin/env bash
# Runs the examples from a build tree: `make demo` calls it after building. The quickstart first (one
# page of graft), then the main job: an MLP trained on Fashion-MNIST with default settings. Pictures,
# checkpoints and weights go to <build-dir>/demo/.
#   usage: scripts/run-demo.sh [build-dir]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
out="$build/demo"
mkdir -p "$out"
"$build/examples/quickstart" "$out/quickstart-graph.svg"
echo
"$build/examples/mlp_fashion_mnist" --out-dir "$out"
