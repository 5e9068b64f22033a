#!/usr/bin/env bash
# Discrimination of `lowrank check` (issue 11): every implementation below over the whole corpus,
# then one table (bench/results/discrimination.md) with each case's errors, verdicts and the
# separation between the largest error that PASSes and the smallest that does not.
# Usage: bench/discrimination/run.sh [BUILD_DIR] [OUT_DIR]     (about 6 minutes on 2 cores)
#   DISCRIMINATION_IMPLS="2 4 5 8" runs only those (1-based, as listed below); the test suite's
#   corpus_discrimination does, and fails when table.py --check finds a target missed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:-$here/build}" && pwd)"; out="${2:-$build/discrimination}"; mkdir -p "$out"; out="$(cd "$out" && pwd)"
L="$build/lowrank"; PY=/usr/bin/python3
mkdir -p "$out"
# name | correct? | command template (lowrank corpus --run protocol)
impls=(
  "own COALA float64 (cpu)|correct|$L solve -q -W {W} -X {X} -r {rank} --mu {mu} --backend cpu --dtype float64 -o {out}"
  "own COALA float32 (cpu)|correct|$L solve -q -W {W} -X {X} -r {rank} --mu {mu} --backend cpu --dtype float32 -o {out}"
  "coala.py float64|correct|$PY coala.py {W} {X} {rank} {mu} {out}"
  "coala.py float32|correct|$PY coala.py {W} {X} {rank} {mu} {out} --float32"
  "coala_tsqr.py float32 (authors' style)|correct|$PY coala_tsqr.py {W} {X} {rank} {mu} {out} --float32"
  "svd_llm.py float64|gram|$PY svd_llm.py {W} {X} {rank} {mu} {out}"
  "svd_llm.py float32|gram|$PY svd_llm.py {W} {X} {rank} {mu} {out} --float32"
  "svd_llm.py float32, mu ignored|gram|$PY svd_llm.py {W} {X} {rank} {mu} {out} --float32 --ignore-mu"
)
cd "$here/examples"
rm -f "$out/impls.tsv.tmp"
only=" ${DISCRIMINATION_IMPLS:-} "
i=0
for spec in "${impls[@]}"; do
  IFS='|' read -r name kind cmd <<<"$spec"
  i=$((i + 1))
  [ "$only" = "  " ] || [[ "$only" == *" $i "* ]] || continue
  echo "== [$i/${#impls[@]}] $name" >&2
  set +e
  "$L" corpus --jobs 2 --timeout 300 --work "$out/impl$i" --report "$out/impl$i.json" --run "$cmd" > "$out/impl$i.txt" 2>&1
  rc=$?
  set -e
  echo "   exit $rc: $(tail -1 "$out/impl$i.txt")" >&2
  printf '%s\t%s\t%s\n' "$i" "$name" "$kind" >> "$out/impls.tsv.tmp"
done
mv "$out/impls.tsv.tmp" "$out/impls.tsv"
"$PY" "$here/bench/discrimination/table.py" "$out" > "$out/discrimination.md"
echo "table: $out/discrimination.md" >&2
tail -4 "$out/discrimination.md" >&2
# Exit nonzero when a correct implementation did not PASS, or a float32 error above 100x the own
# float32 COALA's PASSed.
"$PY" "$here/bench/discrimination/table.py" "$out" --check
