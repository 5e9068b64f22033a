#!/usr/bin/env bash
# Faults around a solve (issue 15): a breakdown, mixed outputs, errors found before work, a file
# truncated or removed while it streams, a FIFO, a full disk at the k-th write, SIGINT/SIGTERM
# during the TSQR and during the write. In every case: the documented exit code (README, "Exit
# codes"), one message naming what failed and where, the previous output whole, and no staging
# folder left behind.
#   fault_test.sh LOWRANK_BIN CORPUS_DIR
set -uo pipefail
L="$(realpath "$1")"; C="$(realpath "$2")"
PY=/usr/bin/python3
T="$(mktemp -d /tmp/lowrank-faults-XXXXXX)"
trap 'rm -rf "$T"' EXIT
cd "$T"
fails=0; runs=0
ok() { runs=$((runs + 1)); echo "ok   $1"; }
bad() { runs=$((runs + 1)); fails=$((fails + 1)); echo "FAIL $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1 [$2]"; fi; }
digest() { (cd "$1" && find . -type f | sort | xargs md5sum) | md5sum; }
no_staging() { ! ls -a . | grep -q '\.tmp-'; }
# Waits (up to 30 s) until FILE contains TEXT.
wait_for() { for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

$PY - <<'PYEOF'
import numpy as np
rng = np.random.default_rng(7)
np.save("W.npy", rng.standard_normal((16, 32)))
# 60000 x 32 float64: the reference backend streams it in about 8 s at --block 256 (long enough
# to be interrupted after its first progress line, short enough for CI).
np.save("X.npy", rng.standard_normal((60000, 32)))
x = rng.standard_normal((60000, 32)); x[-1, -1] = np.nan
np.save("X_nan_last.npy", x)
PYEOF
ref=(--backend reference --block 256)

# 1. Breakdown: report.json with status failed and the reason, no factors, exit 3; and never the
#    factors of an earlier run beside it (the folder is replaced whole).
"$L" solve -q -W "$C/f32_underflow_1e-21/W.npy" -X "$C/f32_underflow_1e-21/X.npy" -r 4 --backend cpu --dtype float32 -o p
check "coala writes A, B, report" '[ -f p/A.npy ] && [ -f p/B.npy ] && [ -f p/report.json ]'
"$L" solve -q -W "$C/f32_underflow_1e-21/W.npy" -X "$C/f32_underflow_1e-21/X.npy" -r 4 --backend cpu --dtype float32 \
  --method svd-llm-v2 -o p 2>err; rc=$?
check "svd-llm-v2 on f32_underflow_1e-21 exits 3" '[ $rc -eq 3 ]'
check "  its report says failed, with the reason" 'grep -q "\"status\": \"failed\"" p/report.json && grep -q "NaN or Inf" p/report.json'
check "  no factors of the earlier coala run are left" '[ ! -e p/A.npy ] && [ ! -e p/B.npy ]'
check "  the message names the report" 'grep -q "report in p/report.json; no factors written" err'
for m in svd-llm svd-llm-v2 pinv damped; do
  "$L" solve -q -W "$C/f32_overflow_1e20/W.npy" -X "$C/f32_overflow_1e20/X.npy" -r 4 --backend cpu --dtype float32 \
    --method $m -o "o_$m" 2>err; rc=$?
  check "$m on f32_overflow_1e20 (float32): exit 3, report failed (Gram overflow)" \
    '[ $rc -eq 3 ] && grep -q "\"status\": \"failed\"" o_$m/report.json && grep -q "not finite in float32" o_$m/report.json && [ ! -e o_$m/A.npy ]'
done
check "no staging folder left (1)" no_staging

# 2. Errors before work: the output location and every entry of X are checked first.
touch afile
start=$(date +%s.%N)
"$L" solve -q -W W.npy -X X.npy -r 4 "${ref[@]}" -o afile/out 2>err; rc=$?
took=$(echo "$(date +%s.%N) - $start" | bc)
check "--out under a regular file: exit 4, named, before the 8 s solve ($took s)" \
  '[ $rc -eq 4 ] && grep -q "afile: parent folder of --out afile/out: Not a directory" err && [ $(echo "$took < 3" | bc) -eq 1 ]'
start=$(date +%s.%N)
"$L" solve -q -W W.npy -X X_nan_last.npy -r 4 "${ref[@]}" -o n 2>err; rc=$?
took=$(echo "$(date +%s.%N) - $start" | bc)
check "NaN in the last row, reference backend: exit 2 before any work ($took s), row, column and byte offset named" \
  '[ $rc -eq 2 ] && grep -q "entry (59999, 31) at byte offset 15360120 is NaN" err && grep -q "found before any work" err && [ ! -e n ] && [ $(echo "$took < 3" | bc) -eq 1 ]'
mkdir foreign && echo mine > foreign/notes.txt
"$L" solve -q -W W.npy -X X.npy -r 4 --backend cpu -o foreign 2>err; rc=$?
check "a non-empty folder lowrank did not write is refused (exit 2) and untouched" \
  '[ $rc -eq 2 ] && grep -q "did not write" err && [ "$(cat foreign/notes.txt)" = mine ] && [ $(ls -A foreign | wc -l) -eq 1 ]'
mkfifo fifo
"$L" solve -q -W W.npy -X fifo -r 4 --backend cpu -o f 2>err; rc=$?
check "a FIFO as X: exit 2, named as not a regular file" '[ $rc -eq 2 ] && grep -q "fifo: is not a regular file" err && [ ! -e f ]'

# The previous output every later case must leave whole.
"$L" solve -q -W W.npy -X X.npy -r 4 --backend cpu -o keep
before=$(digest keep)

# 3. A full disk at the k-th file write (injected ENOSPC): exit 4, the path and the system's text.
for k in 1 2 3; do
  LOWRANK_FAULT_ENOSPC_AT_WRITE=$k "$L" solve -q -W W.npy -X X.npy -r 6 --backend cpu -o keep 2>err; rc=$?
  check "ENOSPC at write $k: exit 4, 'No space left on device' named, previous output whole" \
    '[ $rc -eq 4 ] && grep -q "No space left on device" err && grep -q "injected" err && [ "$(digest keep)" = "$before" ]'
done
check "no staging folder left (3)" no_staging

# 4. The activation file truncated while it streams: exit 4, rows and byte offset named.
cp X.npy Xt.npy
"$L" solve -W W.npy -X Xt.npy -r 6 "${ref[@]}" --progress -o keep >/dev/null 2>err & pid=$!
wait_for err "streaming X" && sleep 0.5 && truncate -s 4000000 Xt.npy
wait $pid; rc=$?
check "X truncated mid-stream: exit 4, 'ended early' with the byte offset, previous output whole" \
  '[ $rc -eq 4 ] && grep -q "Xt.npy: rows .* byte offset [0-9]*: the file ended early" err && [ "$(digest keep)" = "$before" ]'

# 5. The activation file removed while it streams: the open descriptor still reads the data the
#    run started with (POSIX unlink semantics), so the run completes with those data.
cp X.npy Xr.npy
"$L" solve -W W.npy -X Xr.npy -r 4 "${ref[@]}" --progress -o removed >/dev/null 2>err & pid=$!
wait_for err "streaming X" && sleep 0.5 && rm Xr.npy
wait $pid; rc=$?
"$L" solve -q -W W.npy -X X.npy -r 4 "${ref[@]}" -o same
check "X removed mid-stream: exit 0, the same factors as from the intact file" \
  '[ $rc -eq 0 ] && cmp -s removed/A.npy same/A.npy && cmp -s removed/B.npy same/B.npy'

# 6. SIGINT and SIGTERM during the TSQR: exit 130 / 143, previous output whole, no staging.
for sig in INT TERM; do
  "$L" solve -W W.npy -X X.npy -r 6 "${ref[@]}" --progress -o keep >/dev/null 2>err & pid=$!
  wait_for err "streaming X" && sleep 0.5 && kill -$sig $pid
  wait $pid; rc=$?
  want=$([ $sig = INT ] && echo 130 || echo 143)
  check "SIG$sig during the TSQR: exit $want, previous output whole" \
    '[ $rc -eq $want ] && grep -q "interrupted by SIG$sig" err && [ "$(digest keep)" = "$before" ]'
done
# 7. ... and during the write (paused after the files are staged, before they are published).
for sig in INT TERM; do
  LOWRANK_FAULT_PAUSE_BEFORE_COMMIT=3 "$L" solve -q -W W.npy -X X.npy -r 6 --backend cpu -o keep 2>err & pid=$!
  for _ in $(seq 100); do ls .keep.tmp-*/report.json >/dev/null 2>&1 && break; sleep 0.05; done
  kill -$sig $pid
  wait $pid; rc=$?
  want=$([ $sig = INT ] && echo 130 || echo 143)
  check "SIG$sig during the write: exit $want, previous output whole" \
    '[ $rc -eq $want ] && grep -q "interrupted by SIG$sig" err && [ "$(digest keep)" = "$before" ]'
done
check "no staging folder left (7)" no_staging

# 8. A later good run replaces the folder whole.
"$L" solve -q -W W.npy -X X.npy -r 6 --backend cpu -o keep; rc=$?
check "a good run after all that: exit 0, new factors (rank 6)" \
  '[ $rc -eq 0 ] && [ "$(digest keep)" != "$before" ] && grep -q "\"rank\": 6" keep/report.json'

echo "fault tests: $((runs - fails)) passed, $fails failed, of $runs"
[ $fails -eq 0 ]
