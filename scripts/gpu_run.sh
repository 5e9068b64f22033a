#!/usr/bin/env bash
# Build, test and benchmark the CUDA backend on a machine with an NVIDIA GPU (CUDA Toolkit 13 under
# /usr/local/cuda and the Debian packages of scripts/setup.sh). Results go to
# bench/results/cuda_<device>.md and .json (one file per stage first, merged by `report`).
#
#   scripts/gpu_run.sh [stage ...]        default: all = build test peak qr32 qr64 svd32 svd64 e2e report
#
#   build   configure with -DLOWRANK_CUDA=ON (sm_${CUDA_ARCH:-90}) and build lowrank, the CUDA tests, bench_cuda
#   test    ctest -L cuda (the CUDA suite and the CPU validation suite on the GPU); log in bench/results
#   peak    measured GEMM fp32/fp64 next to the table peak
#   qr32 qr64    streaming TSQR vs in-memory Xgeqrf vs syrk+potrf, n = 4096, 11008, 14336, N = 62.5k, 500k
#   svd32 svd64  gesvd / gesvdj / gesvdp / gesvdr on 4096 x {4096, 11008, 14336}
#   e2e     lowrank::solve COALA vs svd-llm, m = 4096, n = 4096, 11008, 14336, N = 500k, r = 1024
#   quick   every bench at n = 4096 only (a few minutes in all)
#   report  merge the per-stage files into cuda_<device>.md / .json
#   Any bench stage takes its own list after a colon (qr64:14336, svd64:4096x14336, e2e:11008) to
#   split a run that would pass a per-command time limit; SVD stages default to REPS_SVD=1 and e2e
#   to E2E_SVD=gesvd (the accurate default; gesvdp / gesvdj for comparison).
#
# Binaries built on another machine with the same libraries can be carried in and used with
# BUILD_DIR=<their build folder> (stages test and the benches need only lowrank, the three
# tests/cuda binaries and bench/cuda/bench_cuda).
# Environment: BUILD_DIR (default build-gpu), JOBS (default nproc), CUDA_ARCH (default 90),
# REPS (default 3), BENCH_N (override the n list, e.g. 4096), BENCH_NTOK (override the N list).
# Each stage is sized to stay under 10 minutes on an H100; run them one by one where a time limit
# applies per command (the device tool of this project: 10 min per call, 30 min per session).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD_DIR:-build-gpu}
JOBS=${JOBS:-$(nproc)}
REPS=${REPS:-3}
NS=${BENCH_N:-4096,11008,14336}
NTOK=${BENCH_NTOK:-62500,500000}
dev=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
dev=$(printf '%s' "${dev:-unknown_gpu}" | tr -c 'A-Za-z0-9' '_' | sed 's/__*/_/g; s/_$//')
RES=bench/results
OUT=$RES/cuda_$dev
mkdir -p "$RES"
BENCH=$BUILD/bench/cuda/bench_cuda

need_bench() {
  [ -x "$BENCH" ] || { echo "gpu_run.sh: $BENCH not built; run the build stage first" >&2; exit 2; }
}
bench() {  # bench STAGE SECTION args...
  local stage=$1; shift
  need_bench
  rm -f "$OUT.$stage.md"
  echo "== $stage: $BENCH $*"
  "$BENCH" "$@" --md "$OUT.$stage.md" --json "$OUT.$stage.json"
}

stage_build() {
  nvcc_path=${CUDACXX:-/usr/local/cuda/bin/nvcc}
  [ -x "$nvcc_path" ] || { echo "gpu_run.sh: nvcc not found at $nvcc_path" >&2; exit 2; }
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLOWRANK_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$nvcc_path" -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}"
  cmake --build "$BUILD" -j"$JOBS" --target lowrank cuda_tests cuda_validation_tests bench_cuda
}
stage_test() {
  # The test binaries are run directly (not through ctest), so that binaries built elsewhere and
  # carried here (BUILD_DIR=...) work whatever the absolute paths.
  nvidia-smi || true
  local rc=0
  : > "$OUT.tests.log"
  for t in cuda_tests cuda_validation_tests cuda_cli_tests; do
    [ -x "$BUILD/tests/cuda/$t" ] || { echo "gpu_run.sh: $BUILD/tests/cuda/$t not built" >&2; exit 2; }
    LOWRANK_BIN="$PWD/$BUILD/lowrank" "$BUILD/tests/cuda/$t" 2>&1 | tee -a "$OUT.tests.log" || rc=1
  done
  [ $rc -eq 0 ] || { echo "gpu_run.sh: CUDA tests FAILED (log: $OUT.tests.log)" >&2; exit 1; }
  # A skip here means the device was not usable: say so loudly rather than report a green run.
  # (The tests expected to skip on a GPU machine are the no-device paths: names with NoDevice.)
  if grep '^\[  SKIPPED \] ' "$OUT.tests.log" | grep -v 'listed below' | grep -v -q 'NoDevice'; then
    echo "gpu_run.sh: some CUDA tests were SKIPPED (no usable device?)" >&2
    exit 3
  fi
}
# A stage may name its own list after a colon: qr64:4096  svd64:4096x14336  e2e:11008 (the result
# file then carries that suffix, so the parts of a split run are all merged by `report`).
ARG=""
tag() { [ -n "$ARG" ] && echo "$1_$(printf '%s' "$ARG" | tr -c 'A-Za-z0-9' '_')" || echo "$1"; }
stage_peak() { bench peak peak; }
stage_qr32() { bench "$(tag qr32)" qr --dtype float32 --n "${ARG:-$NS}" --N "$NTOK" --reps "$REPS"; }
stage_qr64() { bench "$(tag qr64)" qr --dtype float64 --n "${ARG:-$NS}" --N "$NTOK" --reps "$REPS"; }
SHAPES=4096x4096,4096x11008,4096x14336
stage_svd32() { bench "$(tag svd32)" svd --dtype float32 --shapes "${ARG:-$SHAPES}" --reps "${REPS_SVD:-1}"; }
stage_svd64() { bench "$(tag svd64)" svd --dtype float64 --shapes "${ARG:-$SHAPES}" --reps "${REPS_SVD:-1}"; }
stage_e2e() {
  bench "$(tag e2e)" e2e --dtype float64,float32 --n "${ARG:-$NS}" --N "${BENCH_NTOK:-500000}" --m 4096 --svd "${E2E_SVD:-gesvd}"
}
stage_quick() {
  bench quick_qr qr --n 4096 --N 62500,500000 --reps 2
  bench quick_svd svd --shapes 4096x4096 --reps 2
  bench quick_e2e e2e --n 4096 --N 500000 --m 4096
}
stage_report() {
  local parts=()
  for s in peak qr32 qr64 svd32 svd64 e2e quick_qr quick_svd quick_e2e; do
    for f in "$OUT.$s.md" "$OUT.$s"_*.md; do
      [ -f "$f" ] || continue
      f=${f#"$OUT."}
      parts+=("${f%.md}")
    done
  done
  [ ${#parts[@]} -gt 0 ] || { echo "gpu_run.sh: no stage results in $RES" >&2; exit 2; }
  {
    echo "# CUDA backend on $dev"
    echo
    echo "Generated by scripts/gpu_run.sh on $(date -u +%Y-%m-%dT%H:%MZ) from commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')."
    for s in "${parts[@]}"; do cat "$OUT.$s.md"; done
  } > "$OUT.md.tmp" && mv "$OUT.md.tmp" "$OUT.md"
  PARTS="${parts[*]}" OUT="$OUT" python3 - <<'EOF'
import json, os
out = os.environ["OUT"]
merged = {"stages": {}}
for s in os.environ["PARTS"].split():
    p = f"{out}.{s}.json"
    if os.path.exists(p):
        with open(p) as f:
            merged["stages"][s] = json.load(f)
with open(out + ".json.tmp", "w") as f:
    json.dump(merged, f, indent=1)
os.replace(out + ".json.tmp", out + ".json")
EOF
  echo "wrote $OUT.md and $OUT.json"
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(all)
for st in "${stages[@]}"; do
  ARG=""
  name=$st
  if [[ "$st" == *:* ]]; then name=${st%%:*}; ARG=${st#*:}; fi
  case "$name" in
    all) for s in build test peak qr32 qr64 svd32 svd64 e2e report; do "stage_$s"; done ;;
    build|test|peak|qr32|qr64|svd32|svd64|e2e|quick|report) "stage_$name" ;;
    *) echo "gpu_run.sh: unknown stage '$st'" >&2; exit 2 ;;
  esac
done
