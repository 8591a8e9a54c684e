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
cmake -S "$root/tests/consumer" -B "$consumer_build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$consumer_build" -j2 >/dev/null
LD_LIBRARY_PATH="$prefix/lib:${LD_LIBRARY_PATH:-}" "$consumer_build/consumer"
echo "consumer: built against the installed package and ran"
