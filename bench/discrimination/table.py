"""Turns the corpus reports of bench/discrimination/run.sh into one markdown table (stdout)."""
import json
import math
import sys

out = sys.argv[1]
check_only = "--check" in sys.argv[2:]
impls = []
for line in open(out + "/impls.tsv"):
    i, name, kind = line.rstrip("\n").split("\t")
    rep = json.load(open(f"{out}/impl{i}.json"))
    impls.append((name, kind, {c["name"]: c for c in rep["cases"]}, rep["summary"]))


def err(c):
    ch = c.get("check") or {}
    fw = ch.get("forward") or {}
    return fw.get("relative_error")


def cell(c):
    if c is None:
        return "-"
    e = err(c)
    v = {"PASS": "P", "FAIL": "F", "SUSPECT": "S", "ERROR": "E", "REFUSED": "R"}[c["verdict"]]
    return v if e is None else f"{e:.1e} {v}"


names = [n for n in impls[0][2] if impls[0][2][n]["valid"]]
if check_only:
    import io
    sys.stdout = io.StringIO()
print("# Discrimination of `lowrank check` over the corpus (ratio version 2)\n")
print("Each cell: the forward error `||AB - W'_*||_F / ||W'_*||_F` against the case's reference and the verdict")
print("(P PASS, S SUSPECT, F FAIL, E ERROR: the implementation crashed or wrote nothing). `sep32` / `sep64`: the")
print("separation factor among the float32 / float64 implementations, the smallest error that does not PASS over")
print("the largest that does (> 1: the verdicts order the errors; `-` when all got the same verdict). `x32`: the")
print("largest float32 error that PASSes over the project's own float32 COALA's error, on the cases where W'_* is a")
print("point (unique cut, X_mu of full rank: the forward error means something; elsewhere `n/u`, any minimizer is")
print("right and only the objective is judged).\n")
print("| implementation | kind | passed | failed | suspect | errors |")
print("|---|---|---|---|---|---|")
for name, kind, _, s in impls:
    print(f"| {name} | {kind} | {s['passed']} | {s['failed']} | {s.get('suspect', 0)} | {s['errors']} |")
print()
head = "| case | " + " | ".join(f"({k + 1})" for k in range(len(impls))) + " | sep32 | sep64 | x32 |"
print(head)
print("|" + "---|" * (len(impls) + 4))
own32 = next((k for k, (n, *_r) in enumerate(impls) if n.startswith("own COALA float32")), None)
if own32 is None:
    sys.exit("table.py: the own float32 COALA (implementation 2) must be among those run")
violations, correct_not_pass = [], []
def is_point(c):
    ch = c.get("check") or {}
    ach = ch.get("achievable") or {}
    return ach.get("measure") == "forward error"


def sep(p, o):
    return f"{min(o) / max(max(p), 1e-300):.1e}" if p and o else "-"


for case in names:
    cells = []
    groups = {"32": ([], []), "64": ([], [])}
    for k, (name, kind, cases, _) in enumerate(impls):
        c = cases.get(case)
        cells.append(cell(c))
        e = err(c) if c else None
        if c is not None and kind == "correct" and c["verdict"] != "PASS":
            correct_not_pass.append((name, case, c["verdict"]))
        if e is None:
            continue
        passing, other = groups["32" if "float32" in name else "64"]
        (passing if c["verdict"] == "PASS" else other).append(e)
    own = impls[own32][2].get(case)
    ref32 = err(own) if own else None
    x32 = "-"
    p32 = groups["32"][0]
    if own is not None and not is_point(own):
        x32 = "n/u"
    elif p32 and ref32 is not None:
        base = max(ref32, 2.0 ** -24)  # the own COALA exact to the last bit: compare with u
        x32 = f"{max(p32) / base:.1e}"
        if max(p32) > 100 * base:
            violations.append((case, max(p32) / base))
    print(f"| {case} | " + " | ".join(cells) + f" | {sep(*groups['32'])} | {sep(*groups['64'])} | {x32} |")
print()
print("Implementations: " + "; ".join(f"({k + 1}) {n}" for k, (n, *_r) in enumerate(impls)) + ".\n")
# Old and new denominators, case by case, and what they make of the mu-ignoring float32 SVD-LLM.
bad = next((k for k, (n, *_r) in enumerate(impls) if "mu ignored" in n), None)
print("## Denominators: ratio version 1 against version 2\n")
print("`kappa_wedin` is version 1's forward sensitivity, `kappa_str` the structured condition number stored in")
print("the case's reference (version 2 divides by the smaller). `obj v1 / v2` and `fwd v1 / v2` are the ratios of the")
print("own float32 COALA" + (" and of the float32 SVD-LLM that ignores mu" if bad is not None else "") +
      " under both versions (threshold 30; a forward ratio in parentheses is not judged).\n")
hdr = "| case | kappa_wedin | kappa_str | own32 obj v1 / v2 | own32 fwd v1 / v2 |"
if bad is not None:
    hdr += " svd32-no-mu obj v1 / v2 | svd32-no-mu fwd v1 / v2 | svd32-no-mu verdict |"
print(hdr)
print("|" + "---|" * (hdr.count("|") - 1))


def pair(c, key):
    ch = (c or {}).get("check") or {}
    blk = ch.get(key) or {}
    v1, v2 = blk.get("ratio_v1"), blk.get("ratio")
    f = lambda x: "-" if x is None else f"{x:.1e}"
    s = f"{f(v1)} / {f(v2)}"
    return f"({s})" if key == "forward" and not blk.get("judged", True) else s


for case in names:
    own = impls[own32][2].get(case) or {}
    fw = ((own.get("check") or {}).get("forward") or {})
    kw, ks = fw.get("kappa_wedin"), fw.get("kappa")
    row = f"| {case} | {'-' if kw is None else f'{kw:.2e}'} | {'-' if ks is None else f'{ks:.2e}'} | {pair(own, 'objective')} | {pair(own, 'forward')} |"
    if bad is not None:
        c = impls[bad][2].get(case)
        row += f" {pair(c, 'objective')} | {pair(c, 'forward')} | {c['verdict'] if c else '-'} |"
    print(row)
print()
print(f"Correct implementations that did not PASS a valid case: {len(correct_not_pass)}"
      + ("" if not correct_not_pass else " -- " + ", ".join(f"{n} on {c} ({v})" for n, c, v in correct_not_pass)))
print(f"\nCases where an error above 100x the own float32 COALA's PASSed: {len(violations)}"
      + ("" if not violations else " -- " + ", ".join(f"{c} ({x:.0f}x)" for c, x in violations)))

if check_only:
    sys.stdout = sys.__stdout__
    ok = not correct_not_pass and not violations
    print(f"discrimination: {len(correct_not_pass)} correct-implementation cases not PASS, {len(violations)} cases with a "
          f"float32 error > 100x the own float32 COALA's PASSing: {'ok' if ok else 'FAILED'}")
    sys.exit(0 if ok else 1)
