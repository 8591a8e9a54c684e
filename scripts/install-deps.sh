#!/usr/bin/env bash
# Installs the Debian packages graft needs, only those that are missing (quick when all are present).
# Usage: scripts/install-deps.sh [extra-package ...]
set -euo pipefail
packages=(
  cmake g++ make pkg-config ccache
  libdnnl-dev ocl-icd-opencl-dev      # oneDNN (f32 kernels); its CMake target wants OpenCL
  libfmt-dev libgtest-dev libgmock-dev
  libgraphviz-dev graphviz            # DOT rendering through libgvc
  libopenmpi-dev openmpi-bin          # the real distributed backend
  zlib1g-dev libcli11-dev nlohmann-json3-dev
  dataset-fashion-mnist               # /usr/share/datasets/fashion-mnist
  libclang-rt-14-dev                  # sanitizer runtimes
  libopenblas-openmp-dev              # float64 products (dgemm), on the same GNU OpenMP threads as oneDNN
  doxygen                             # make docs: the API reference
  "$@"
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  # The package manager's output goes to a log; only a failure shows it.
  log="${TMPDIR:-/tmp}/graft-install-deps.log"
  echo "graft: installing ${#missing[@]} Debian packages (${missing[*]}); log: $log" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
           --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "graft: installing the packages failed (full log: $log)" >&2
    exit 1
  fi
fi
