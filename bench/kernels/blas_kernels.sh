#!/usr/bin/env bash
# The same solve under each OpenBLAS kernel this CPU can run (OPENBLAS_CORETYPE, a DYNAMIC_ARCH
# build) and thread count: how far the answer moves, for the stable method and the unstable one.
# Case llm_like_64 of the corpus (the README's demo table), float32, rank 8. For each run:
# the kernel OpenBLAS reports (report.json "blas"), the check's objective ratio and the distance of
# W' = A B from the reference W'_ref relative to ||W'_ref||, and whether A.npy's bytes equal
# those of the run with the CPU's own kernel and 1 thread.
# Usage: bench/kernels/blas_kernels.sh [BUILD] > bench/results/blas_kernels.md
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$here/build}"
case_dir="$here/data/corpus/llm_like_64"
rank="$("$build/venv/bin/python" -c "import json; print(json.load(open('$case_dir/case.json'))['rank'])")"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
echo "# One solve under each OpenBLAS kernel and thread count"
echo
echo "Case \`llm_like_64\` (corpus), float32, rank $rank, \`lowrank solve --backend cpu --dtype float32\`;"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%Y-%m-%d)."
echo "Regenerate: \`bench/kernels/blas_kernels.sh > bench/results/blas_kernels.md\`."
echo
echo "| method | OPENBLAS_CORETYPE | kernel used | threads | objective ratio | verdict | rel. distance of W' to W'_ref | A.npy = first row's |"
echo "|---|---|---|---|---|---|---|---|"
for method in coala svd-llm; do
  first=""
  for core in "" Prescott Nehalem Sandybridge Haswell SkylakeX Cooperlake; do
    for threads in 1 2; do
      o="$tmp/$method-${core:-own}-$threads"
      OPENBLAS_CORETYPE="$core" "$build/lowrank" solve -W "$case_dir/W.npy" -X "$case_dir/X.npy" -r "$rank" \
        --method "$method" --backend cpu --dtype float32 --threads "$threads" -q -o "$o" >/dev/null 2>&1 || continue
      "$build/lowrank" check --case "$case_dir" --a "$o/A.npy" --b "$o/B.npy" --json > "$o/check.json" 2>/dev/null || true
      [ -z "$first" ] && first="$o"
      same=$(cmp -s "$o/A.npy" "$first/A.npy" && echo yes || echo no)
      "$build/venv/bin/python" - "$o" "$case_dir" "$method" "${core:-(own)}" "$threads" "$same" <<'PY'
import json, sys, numpy as np
o, c, method, core, threads, same = sys.argv[1:]
rep = json.load(open(f"{o}/report.json")); chk = json.load(open(f"{o}/check.json"))
Wp = np.load(f"{o}/A.npy").astype(np.float64) @ np.load(f"{o}/B.npy").astype(np.float64)
Wr = np.load(f"{c}/A_ref.npy") @ np.load(f"{c}/B_ref.npy")
d = np.linalg.norm(Wp - Wr) / np.linalg.norm(Wr)
print(f"| {method} | {core} | {rep['blas']['kernel']} | {threads} | {chk['objective']['ratio']:.2e} | "
      f"{chk['verdict']} | {d:.2e} | {same} |")
PY
    done
  done
done
