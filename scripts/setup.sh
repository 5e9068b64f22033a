#!/usr/bin/env bash
# Installs what this project needs from Debian's packages (idempotent, quiet when all is there)
# and configures + builds it in Release mode into ./build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
packages=(build-essential cmake libeigen3-dev libmpfr-dev libmpfrc++-dev libboost-dev
          nlohmann-json3-dev libcli11-dev libopenblas-dev liblapacke-dev libgtest-dev
          libbenchmark-dev gnuplot-nox python3-numpy python3-mpmath libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
build="${LOWRANK_BUILD_DIR:-$here/build}"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release ${LOWRANK_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc)" 2>&1 | grep -E "error|warning|Error" || true
test -x "$build/lowrank" || { echo "setup: build failed" >&2; exit 1; }
