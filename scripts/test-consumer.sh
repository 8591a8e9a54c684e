#!/usr/bin/env bash
# Installs graft from a build tree into a scratch prefix, then builds and runs tests/consumer, a separate
# project that only does find_package(graft) and links graft::graft.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(cd "$build" && pwd)/consumer-install
consumer_build=$(cd "$build" && pwd)/consumer-build
rm -rf "$prefix" "$consumer_build"
cmake --install "$build" --prefix "$prefix" >/dev/null
# The installed package must stand on its own: no paths back into the source or build tree.
if grep -rlF -e "$root" -e "$(cd "$build" && pwd)/" "$prefix" --include='*.cmake' --include='*.h'; then
  echo "consumer: the installed package refers to the source or build tree (files above)" >&2
  exit 1
fi
cmake -S "$root/tests/consumer" -B "$consumer_build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$consumer_build" -j2 >/dev/null
# No LD_LIBRARY_PATH: the consumer finds libgraft through the run path CMake gives it.
"$consumer_build/consumer"
echo "consumer: built against the installed package and ran"
