#!/usr/bin/env bash
# Runs the examples from a build tree: `make demo` calls it after building. The quickstart first (one
# page of graft), then the main job: an MLP trained on Fashion-MNIST with default settings. Pictures,
# checkpoints and weights go to <build-dir>/demo/.
#   usage: scripts/run-demo.sh [build-dir]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
out="$build/demo"
mkdir -p "$out"
"$build/examples/quickstart" --out-dir "$out"
echo
"$build/examples/mlp_fashion_mnist" --out-dir "$out"
rel=${build#"$PWD/"}
cat <<EOF

Done: pictures, checkpoints and weights are in $rel/demo/. What to try next:
  make test                                               the whole test suite (about half an hour)
  cmake --build $rel --target tiny_gpt && $rel/examples/tiny_gpt     a character-level GPT, sampled four ways
  cmake --build $rel --target custom_op && $rel/examples/custom_op   your own op, checked with gradcheck
  cmake --build $rel --target zero_demo && $rel/examples/zero_demo   ZeRO stages 0-3 on 4 simulated ranks
  every example takes --help; README.md walks through the API.
EOF
