#!/usr/bin/env bash
# Installs what is missing, builds (Release) and runs the whole test suite with CTest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/setup.sh"
cd "$here/build"
ctest --output-on-failure -j "$(nproc)" --timeout 900
# Then the ASan + UBSan build of the suite and the fuzz targets over their seeds plus 60 s each
# (README, "Two commands"); LOWRANK_SKIP_SANITIZE=1 runs the Release suite alone.
if [ "${LOWRANK_SKIP_SANITIZE:-0}" != 1 ]; then
  "$here/scripts/sanitize.sh"
fi
