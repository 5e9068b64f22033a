#!/usr/bin/env bash
# Issue 12, item 7: two runs of the demo's table (scripts/demo.sh without `reproduce`) give
# identical bytes: every A.npy and B.npy, and the printed table. Same command, inputs, backend,
# dtype and thread count (OpenBLAS's default, the core count, the same for both runs).
set -euo pipefail
bin="$1"
root="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for run in 1 2; do
  LOWRANK_BIN="$bin" LOWRANK_DEMO_SKIP_REPRODUCE=1 bash "$root/scripts/demo.sh" "$tmp/run$run" > "$tmp/table$run.txt" 2> "$tmp/err$run.txt" || {
    echo "demo_identical: run $run of the demo failed:"; cat "$tmp/table$run.txt" "$tmp/err$run.txt"; exit 1; }
done
# The table names the output folder on its last line; everything above it must match byte for byte.
if ! diff <(grep -v "solutions, reports and check results under" "$tmp/table1.txt") \
          <(grep -v "solutions, reports and check results under" "$tmp/table2.txt"); then
  echo "demo_identical: the two runs printed different tables"; exit 1
fi
n=0
while IFS= read -r f; do
  rel="${f#"$tmp/run1/"}"
  cmp "$f" "$tmp/run2/$rel" || { echo "demo_identical: $rel differs between the two runs"; exit 1; }
  n=$((n + 1))
done < <(find "$tmp/run1" -name 'A.npy' -o -name 'B.npy' | sort)
# The same set of factor files in both runs, and enough of them to mean something.
[ "$(cd "$tmp/run1" && find . -name '*.npy' | sort)" = "$(cd "$tmp/run2" && find . -name '*.npy' | sort)" ] ||
  { echo "demo_identical: the runs wrote different sets of files"; exit 1; }
[ "$n" -ge 6 ] || { echo "demo_identical: only $n factor files compared"; exit 1; }
cat "$tmp/table1.txt"
echo "demo_identical: $n factor files (A.npy, B.npy) and the table are identical over two runs"
