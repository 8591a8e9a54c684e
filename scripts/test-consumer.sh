#!/usr/bin/env bash
# Installs graft from a build tree into a scratch prefix, then uses it as a user's own project would:
#   - tests/consumer with CMake (find_package(graft), and COMPONENTS mpi when graft_mpi was built): a model
#     checked against central differences, and the extension API (a custom op, a custom module with a hook,
#     the MHA replacement on a member);
#   - examples/quickstart.cpp compiled by hand with pkg-config (g++ ... $(pkg-config --cflags --libs graft)).
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
build_abs=$(cd "$build" && pwd)
prefix=$build_abs/consumer-install
consumer_build=$build_abs/consumer-build
rm -rf "$prefix" "$consumer_build"
cmake --install "$build" --prefix "$prefix" >/dev/null
# The installed package must stand on its own: no paths back into the source or build tree.
if grep -rlF -e "$root" -e "$build_abs/" "$prefix" --include='*.cmake' --include='*.h' --include='*.pc'; then
  echo "consumer: the installed package refers to the source or build tree (files above)" >&2
  exit 1
fi
# Only public headers are installed.
if find "$prefix/include" -path '*/detail/*' -o -path '*/kernels/*' | grep -q .; then
  echo "consumer: private headers (detail/, kernels/) were installed" >&2
  exit 1
fi
with_mpi=OFF
if find "$prefix" -name graftMpiTargets.cmake | grep -q .; then with_mpi=ON; fi
cmake -S "$root/tests/consumer" -B "$consumer_build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCONSUMER_MPI=$with_mpi >/dev/null
cmake --build "$consumer_build" -j2 >/dev/null
# No LD_LIBRARY_PATH: the consumers find libgraft through the run path CMake gives them.
"$consumer_build/consumer"
"$consumer_build/consumer_extension"
if [ "$with_mpi" = ON ]; then
  mpirun --allow-run-as-root --oversubscribe -np 2 "$consumer_build/consumer_mpi"
fi
echo "consumer: built with CMake against the installed package and ran (MPI component: $with_mpi)"

# pkg-config: the quickstart built by hand, the way the README shows.
export PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name graft.pc)")
g++ -O1 "$root/examples/quickstart.cpp" -o "$consumer_build/quickstart" $(pkg-config --cflags --libs graft)
"$consumer_build/quickstart" --out-dir "$consumer_build/quickstart-out" >/dev/null
test -s "$consumer_build/quickstart-out/graph.svg"
echo "consumer: examples/quickstart.cpp built with pkg-config and ran"
