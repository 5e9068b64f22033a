#!/usr/bin/env bash
# Side by side, in one run: two `lowrank` binaries (e.g. before and after a change) solve the same
# problems, alternating, REPS times each; prints per-phase medians (report.json "seconds") and the
# ratio. Usage: bench/products/compare.sh OLD_LOWRANK NEW_LOWRANK [n ...]   (env: REPS=3, DTYPE=float64,
# METHOD=coala). Problems: m = n, N = 8n, r = n/4, Gaussian W and X (numpy, seed 0).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
old="$1"; new="$2"; shift 2
sizes=("${@:-1024}")
reps="${REPS:-3}"; dtype="${DTYPE:-float64}"; method="${METHOD:-coala}"
py="${PYTHON:-$here/build/venv/bin/python}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
for n in "${sizes[@]}"; do
  "$py" -c "
import numpy as np, sys
n = $n; rng = np.random.default_rng(0)
np.save('$tmp/W.npy', rng.standard_normal((n, n))); np.save('$tmp/X.npy', rng.standard_normal((8 * n, n)))"
  for rep in $(seq "$reps"); do
    for which in old new; do
      bin="$old"; [ "$which" = new ] && bin="$new"
      s=$(date +%s.%N)
      "$bin" solve -W "$tmp/W.npy" -X "$tmp/X.npy" -r $((n / 4)) --backend cpu --dtype "$dtype" --method "$method" \
        -o "$tmp/out_$which" -q
      e=$(date +%s.%N)
      "$py" -c "
import json; r = json.load(open('$tmp/out_$which/report.json'))
print(json.dumps({'which': '$which', 'n': $n, 'wall': $e - $s, 'objective': r['objective'], **r['seconds']}))" >> "$tmp/rows.jsonl"
    done
  done
done
"$py" - "$tmp/rows.jsonl" "$dtype" "$method" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"# {sys.argv[3]}, {sys.argv[2]}, m = n, N = 8n, r = n/4: medians over {sum(1 for r in rows if r['which']=='old' and r['n']==rows[0]['n'])} alternating runs (seconds)")
phases = ["accumulate", "x_rank", "regularize", "cholesky", "svd", "factors", "report", "wall"]
for n in sorted({r["n"] for r in rows}):
    print(f"\nn = {n}\n\n| phase | before | after | after / before |\n|---|---|---|---|")
    for p in phases:
        o = [r[p] for r in rows if r["n"] == n and r["which"] == "old" and p in r]
        w = [r[p] for r in rows if r["n"] == n and r["which"] == "new" and p in r]
        if not o or not w: continue
        mo, mw = st.median(o), st.median(w)
        print(f"| {p} | {mo:.3f} | {mw:.3f} | {mw / mo:.2f} |")
    fo = [r["objective"] for r in rows if r["n"] == n and r["which"] == "old"][0]
    fw = [r["objective"] for r in rows if r["n"] == n and r["which"] == "new"][0]
    print(f"\nobjective before {fo:.16e}, after {fw:.16e} (relative difference {abs(fw - fo) / fo:.1e})")
PY
