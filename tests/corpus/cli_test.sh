#!/usr/bin/env bash
# End-to-end checks of `lowrank check` and `lowrank corpus --run` (label "corpus").
# Usage: cli_test.sh PATH/TO/lowrank SOURCE_DIR
set -uo pipefail
L="$1"; SRC="$2"; C="$SRC/data/corpus"; PY=/usr/bin/python3
T="$(mktemp -d /tmp/lowrank-corpus-cli-XXXXXX)"; trap 'rm -rf "$T"' EXIT
fails=0
expect() {  # expect RC DESCRIPTION -- command...
  local want="$1" what="$2"; shift 3
  "$@" >"$T/out.txt" 2>&1; local rc=$?
  if [ "$rc" != "$want" ]; then echo "FAILED: $what: exit $rc, expected $want"; cat "$T/out.txt"; fails=$((fails+1));
  else echo "ok: $what (exit $rc)"; fi
}
no_out() { ! grep -q -- "$1" "$T/out.txt" || { echo "FAILED: output has '$1'"; cat "$T/out.txt"; fails=$((fails+1)); }; }
grep_out() { grep -q -- "$1" "$T/out.txt" || { echo "FAILED: output lacks '$1'"; cat "$T/out.txt"; fails=$((fails+1)); }; }

W=$C/well_conditioned_16
$PY - "$W" "$T" <<'PYEOF'
import sys, numpy as np
w, t = sys.argv[1], sys.argv[2]
A, B = np.load(w + "/A_ref.npy"), np.load(w + "/B_ref.npy")
u = 2.0 ** -53
np.save(t + "/A_pert.npy", A * (1 + 1e3 * u))          # 1e3 u relative in W' = A B
np.save(t + "/A_wide.npy", np.hstack([A, A[:, :1]])); np.save(t + "/B_wide.npy", np.vstack([B, B[:1]]))
np.save(t + "/A_short.npy", A[:-1])
An = A.copy(); An[2, 1] = np.nan; np.save(t + "/A_nan.npy", An)
PYEOF
expect 0 "check passes the reference" -- "$L" check --case "$W" --a "$W/A_ref.npy" --b "$W/B_ref.npy"; grep_out PASS
expect 1 "check fails 1e3 u perturbation" -- "$L" check --case "$W" --a "$T/A_pert.npy" --b "$W/B_ref.npy"; grep_out "forward ratio"; no_out "lowrank: error"
expect 1 "check fails rank r+1" -- "$L" check --case "$W" --a "$T/A_wide.npy" --b "$T/B_wide.npy"; grep_out "rank above r"
expect 1 "check fails wrong shape" -- "$L" check --case "$W" --a "$T/A_short.npy" --b "$W/B_ref.npy"; grep_out "wrong shape"
expect 1 "check fails NaN" -- "$L" check --case "$W" --a "$T/A_nan.npy" --b "$W/B_ref.npy"; grep_out "NaN"
expect 1 "check --json on FAIL" -- "$L" check --json --case "$W" --a "$T/A_pert.npy" --b "$W/B_ref.npy"; grep_out '"verdict": "FAIL"'
expect 0 "check with on-the-fly reference" -- "$L" check --weights "$W/W.npy" --acts "$W/X.npy" --rank 4 --a "$W/A_ref.npy" --b "$W/B_ref.npy"
expect 1 "on-the-fly reference, perturbed" -- "$L" check --weights "$W/W.npy" --acts "$W/X.npy" --rank 4 --a "$T/A_pert.npy" --b "$W/B_ref.npy"
expect 0 "non-unique case: objective only" -- "$L" check --case "$C/tie_at_cut_r4" --a "$C/tie_at_cut_r4/A_ref.npy" --b "$C/tie_at_cut_r4/B_ref.npy"; grep_out "objective only"
for bad in invalid_nan_in_w invalid_inf_in_x invalid_shape_mismatch invalid_truncated_x invalid_rank_above_m invalid_negative_mu; do
  expect 2 "check refuses $bad" -- "$L" check --case "$C/$bad" --a "$W/A_ref.npy" --b "$W/B_ref.npy"; grep_out "lowrank: error"
done

# SUSPECT (ratio version 2): a float32 SVD-LLM on cond_1e04 stays inside the rigorous bounds
# (forward error 1.1e-4, ratio ~20) but is ~150x less accurate than a stable float32 method there.
K=$C/cond_1e04
(cd "$SRC/examples" && $PY svd_llm.py "$K/W.npy" "$K/X.npy" 8 0 "$T/svd32" --float32) || fails=$((fails+1))
expect 5 "check: float32 svd-llm is SUSPECT" -- "$L" check --case "$K" --a "$T/svd32/A.npy" --b "$T/svd32/B.npy"
grep_out "SUSPECT"; grep_out "less accurate"; grep_out "achievable accuracy"; no_out "lowrank: error"
expect 5 "check --json: SUSPECT" -- "$L" check --json --case "$K" --a "$T/svd32/A.npy" --b "$T/svd32/B.npy"; grep_out '"verdict": "SUSPECT"'
expect 0 "check --ratio-version 1: PASS/FAIL only" -- "$L" check --ratio-version 1 --case "$K" --a "$T/svd32/A.npy" --b "$T/svd32/B.npy"
grep_out "ratio version 1"; no_out "achievable"
expect 0 "check --achievable-samples 0: rigorous tests only" -- "$L" check --achievable-samples 0 --case "$K" --a "$T/svd32/A.npy" --b "$T/svd32/B.npy"
expect 2 "check --ratio-version 3 refused" -- "$L" check --ratio-version 3 --case "$K" --a "$T/svd32/A.npy" --b "$T/svd32/B.npy"; grep_out "ratio-version"
expect 2 "check --achievable-samples -1 refused" -- "$L" check --achievable-samples -1 --case "$K" --a "$T/svd32/A.npy" --b "$T/svd32/B.npy"

# The two NumPy examples over the whole corpus.
cd "$SRC/examples"
expect 0 "corpus --run coala.py" -- "$L" corpus --jobs 2 --timeout 120 --work "$T/coala" --run "$PY coala.py {W} {X} {rank} {mu} {out}"
$PY - "$T/coala/report.json" <<'PYEOF' || fails=$((fails+1))
import json, sys
r = json.load(open(sys.argv[1])); s = r["summary"]
assert s["failed"] == 0 and s["errors"] == 0 and s["refused"] == 6 and s["passed"] == s["total"] - 6, s
print("ok: coala.py passes every valid case, every invalid one refused:", s)
PYEOF
expect 1 "corpus --run svd_llm.py fails" -- "$L" corpus --jobs 2 --timeout 120 --work "$T/svd" --run "$PY svd_llm.py {W} {X} {rank} {mu} {out}"
$PY - "$T/svd/report.json" <<'PYEOF' || fails=$((fails+1))
import json, sys
r = json.load(open(sys.argv[1])); v = {c["name"]: c["verdict"] for c in r["cases"]}
must_fail = ["cond_1e10", "cond_1e12", "cond_1e14", "cond_1e16", "mode_log_uniform_1e12",   # ill-conditioned
             "few_tokens_N20_n32", "tokens_below_rank_N5_r8", "single_token_N1_r4", "rankdef_exact_k6_r8"]  # underdetermined
bad = [n for n in must_fail if v[n] != "FAIL"]
assert not bad, ("svd_llm.py should fail", bad)
assert v["f32_overflow_1e20"] in ("FAIL", "ERROR"), "X X^T overflows float32: svd_llm.py cannot succeed"
assert v["cond_1e00"] == "PASS" and v["well_conditioned_16"] == "PASS", "svd_llm.py should pass well-conditioned cases"
print("ok: svd_llm.py fails", len(must_fail), "ill-conditioned/underdetermined cases, passes the well-conditioned;", r["summary"])
PYEOF
expect 1 "corpus --filter + timeout kills" -- "$L" corpus --filter well-conditioned --timeout 1 --work "$T/slow" --run "sleep 5"
grep_out "timed out"
[ "$fails" = 0 ] && echo "all corpus CLI checks passed" || { echo "$fails corpus CLI check(s) failed"; exit 1; }
