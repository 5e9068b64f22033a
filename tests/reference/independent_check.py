#!/usr/bin/python3
"""Independent validation of `lowrank solve --backend reference` with another arbitrary-precision
library (mpmath, 300 bits).

Nothing here shares code with the C++ project: the cases are generated here (Python's own
random numbers, Haar factors from mpmath's QR), written with NumPy's own .npy writer, and the
optimum is computed by a different algorithm than COALA's (the Gram X^T X at 300 bits, the
symmetric eigensolver of W X^T X W^T + mu W W^T, W' = U_r U_r^T W; MATH.md 1.1 / 1.2). Then

    lowrank solve --backend reference --bits 256 ...

must reproduce W' = A B to 1e-12 relative (float64 output: A and B are the 256-bit values rounded
once, so A B carries about (r + sqrt(r) + 1) u_53 ~ 1e-15 relative error), and the objective
||(W - W')X||_F to 1e-10 relative (one rounding, ~1e-16). The 300-bit side is exact to far below
these (forming the Gram squares kappa: u_300 kappa^2 = 5e-91 * 1e16 for the kappa = 1e8 case).
The report's 40-digit objective string is also checked to 1e-35 relative, which the 256-bit
reference promises (gamma ||W|| ||X|| / f with gamma ~ 1e-72, ||W|| ||X|| / f < 1e10 here).

Usage: independent_check.py --lowrank PATH/TO/lowrank   (exit 0 only if every case passes)
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import mpmath
except ImportError as exc:  # the project's setup installs both (python3-numpy, python3-mpmath)
    sys.exit("independent_check: needs /usr/bin/python3 with numpy and mpmath "
             "(Debian python3-numpy, python3-mpmath; scripts/setup.sh installs them): %s" % exc)

mp = mpmath.mp
mp.prec = 300


# ---- matrices in mpmath ------------------------------------------------------------------------

def gaussian(rows, cols, rng):
    return mp.matrix([[mp.mpf(rng.gauss(0.0, 1.0)) for _ in range(cols)] for _ in range(rows)])


def small_ints(rows, cols, rng, k=2):
    return mp.matrix([[mp.mpf(rng.randint(-k, k)) for _ in range(cols)] for _ in range(rows)])


def haar(n, k, rng):
    """n x k with orthonormal columns, Haar distributed (QR of a Gaussian, signs fixed by diag R)."""
    q, r = mp.qr(gaussian(n, k, rng))
    out = mp.matrix(n, k)
    for j in range(k):
        sign = 1 if r[j, j] >= 0 else -1
        for i in range(n):
            out[i, j] = sign * q[i, j]
    return out


def with_singular_values(rows, cols, s, rng):
    """rows x cols matrix U diag(s) V^T (len(s) = min(rows, cols)) with Haar U, V."""
    k = len(s)
    u, v = haar(rows, k, rng), haar(cols, k, rng)
    d = mp.diag([mp.mpf(x) for x in s])
    return u * d * v.T


def rounded(m, dtype=np.float64):
    """The matrix as it will be stored (rounded once to dtype), back in mpmath exactly."""
    a = np.array([[float(m[i, j]) for j in range(m.cols)] for i in range(m.rows)], dtype=np.float64)
    a = a.astype(dtype).astype(np.float64)
    return a, from_numpy(a)


def from_numpy(a):
    a = np.asarray(a, dtype=np.float64)
    out = mp.matrix(a.shape[0], a.shape[1])
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[i, j] = mp.mpf(float(a[i, j]))
    return out


def fro(m):
    return mp.sqrt(mp.fsum(m[i, j] ** 2 for i in range(m.rows) for j in range(m.cols)))


def top_eigenvectors(sym, count):
    """Eigenvalues (descending) and the first `count` eigenvectors of a symmetric matrix."""
    e, q = mp.eigsy(sym)
    order = sorted(range(sym.rows), key=lambda i: -e[i])
    vals = [e[i] for i in order]
    vecs = mp.matrix(sym.rows, count)
    for jj, j in enumerate(order[:count]):
        for i in range(sym.rows):
            vecs[i, jj] = q[i, j]
    return vals, vecs


# ---- the optimum, by a different route than the project's -------------------------------------

def optimum(W, X, r, mu, method):
    """W' of MATH.md 1.1 (coala, P_mu) or 1.2 (limit), from the eigenvectors of W X^T X W^T + mu W W^T.

    X is the N x n file matrix, so the paper's X X^T is X^T X here."""
    G = X.T * X
    WG = W * G * W.T
    M = WG + mu * (W * W.T) if mu > 0 else WG
    vals, _ = top_eigenvectors(M, 0)
    info = {"s": [mp.sqrt(max(v, 0)) for v in vals]}
    if method == "coala":
        _, U = top_eigenvectors(M, r)
    else:  # limit: k = rank(W X); the data here are exactly rank-deficient, so the cut is clean
        tol = mp.mpf(10) ** -60 * vals[0]
        k = sum(1 for v in vals if v > tol)
        info["k"] = k
        if k >= r:
            _, U = top_eigenvectors(WG, r)
        else:
            _, Uk = top_eigenvectors(WG, k)
            P = mp.eye(W.rows) - Uk * Uk.T
            _, V = top_eigenvectors(P * W * W.T * P, r - k)
            U = mp.matrix(W.rows, r)
            for i in range(W.rows):
                for j in range(k):
                    U[i, j] = Uk[i, j]
                for j in range(r - k):
                    U[i, k + j] = V[i, j]
    Wp = U * (U.T * W)
    f = fro((W - Wp) * X.T)
    # Uniqueness margin at the cut: W' moves by about u * s_1 / (s_r - s_{r+1}) under a relative
    # perturbation u of the data (Wedin), so (s_r - s_{r+1}) / s_1 must be far above u_256 ~ 1e-77
    # for either side to be meaningful to 1e-12; the cases require > 1e-20.
    s = info["s"]
    if method == "coala" and r < len(s):
        info["rel_gap"] = (s[r - 1] - s[r]) / s[0]
    return Wp, f, info


# ---- the cases ----------------------------------------------------------------------------------

def make_cases(seed):
    rng = random.Random(seed)
    cases = []

    def add(name, W, X, r, mu=0.0, method="coala", x_dtype=np.float64, fortran=False):
        Wd, Wm = rounded(W)
        Xd, Xm = rounded(X, x_dtype)
        cases.append(dict(name=name, W=Wd, X=Xd.astype(x_dtype), Wm=Wm, Xm=Xm, r=r, mu=mu,
                          method=method, fortran=fortran))

    m, n, N = 12, 16, 40
    add("well-conditioned, X float32 Fortran order", gaussian(m, n, rng),
        with_singular_values(N, n, [1 + i / (n - 1) for i in range(n)], rng), 5,
        x_dtype=np.float32, fortran=True)
    geo = [mp.mpf(10) ** (-8 * mp.mpf(i) / (n - 1)) for i in range(n)]
    X8 = with_singular_values(N, n, geo, rng)
    add("kappa(X) = 1e8", gaussian(m, n, rng), X8, 5)
    add("kappa(X) = 1e8, mu = 1e-4", gaussian(m, n, rng), X8, 6, mu=1e-4)
    add("rank-deficient X (rank 6 of 16, exact integers)", gaussian(m, n, rng),
        small_ints(30, 6, rng) * small_ints(6, n, rng), 4)
    add("N < n (N = 8, n = 16)", gaussian(m, n, rng), gaussian(8, n, rng), 5)
    add("N < n, mu = 0.5", gaussian(m, n, rng), gaussian(8, n, rng), 10, mu=0.5)
    add("limit, N < r (N = 3, r = 5)", small_ints(10, 12, rng, 3), small_ints(3, 12, rng), 5,
        method="limit")
    add("limit, rank(X) = 6 >= r = 4", gaussian(10, 12, rng), small_ints(20, 6, rng) * small_ints(6, 12, rng),
        4, method="limit")
    return cases


# ---- running the project's command ----------------------------------------------------------------

def run_case(lowrank, case, work):
    wpath, xpath, out = (os.path.join(work, p) for p in ("W.npy", "X.npy", "out"))
    shutil.rmtree(out, ignore_errors=True)
    np.save(wpath, case["W"])
    np.save(xpath, np.asfortranarray(case["X"]) if case["fortran"] else np.ascontiguousarray(case["X"]))
    cmd = [lowrank, "solve", "--backend", "reference", "--bits", "256", "--weights", wpath,
           "--acts", xpath, "--rank", str(case["r"]), "--method", case["method"], "--block", "7",
           "--out", out, "--quiet"]
    if case["mu"] > 0:
        cmd += ["--mu", repr(case["mu"])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("lowrank failed (%d): %s" % (proc.returncode, proc.stderr.strip()))
    A, B = np.load(os.path.join(out, "A.npy")), np.load(os.path.join(out, "B.npy"))
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    return A, B, report


def check(case, A, B, report):
    """Returns a list of failure strings (empty on pass) and a dict of measured numbers."""
    fails, nums = [], {}
    W, X, r = case["Wm"], case["Xm"], case["r"]
    mu = mp.mpf(case["mu"])  # the double the command line parses, exactly
    Wp, f, info = optimum(W, X, r, mu, case["method"])
    if "rel_gap" in info and not info["rel_gap"] > mp.mpf("1e-20"):
        fails.append("case is not well posed: relative gap %s" % mpmath.nstr(info["rel_gap"], 3))
    if A.shape != (W.rows, r) or B.shape != (r, W.cols):
        return ["shapes A %s B %s, expected (%d, %d) (%d, %d)" % (A.shape, B.shape, W.rows, r, r, W.cols)], nums
    Wc = from_numpy(A) * from_numpy(B)  # product of the stored doubles, at 300 bits
    err = fro(Wc - Wp) / fro(Wp)
    nums["W' rel err"] = err
    if not err <= mp.mpf("1e-12"):
        fails.append("W' relative error %s > 1e-12" % mpmath.nstr(err, 3))
    scale = fro(W) * fro(X)
    denom = f if f > mp.mpf("1e-20") * scale else scale  # limit with k < r: f = 0 exactly
    obj_err = abs(mp.mpf(report["objective"]) - f) / denom
    nums["objective rel err"] = obj_err
    if not obj_err <= mp.mpf("1e-10"):
        fails.append("objective %r vs mpmath %s: relative error %s > 1e-10"
                     % (report["objective"], mpmath.nstr(f, 20), mpmath.nstr(obj_err, 3)))
    dec_err = abs(mp.mpf(report["objective_decimal"]) - f) / denom
    nums["objective (40 digits) rel err"] = dec_err
    if not dec_err <= mp.mpf("1e-35"):
        fails.append("objective_decimal relative error %s > 1e-35" % mpmath.nstr(dec_err, 3))
    # Singular values of W R^T (W R_mu^T): sqrt of the eigenvalues of W X^T X W^T + mu W W^T.
    s_ref, s_got = info["s"], report["singular_values"]
    if len(s_got) != min(W.rows, W.cols):
        fails.append("report has %d singular values, expected %d" % (len(s_got), min(W.rows, W.cols)))
    else:
        # Weyl: each is within u_53 s_i (the rounding) of the exact value, and the exact small ones
        # (rank-deficient cases) are below 1e-12 s_1 in the 300-bit eigenvalues too.
        sv_err = max(abs(mp.mpf(g) - s) for g, s in zip(s_got, s_ref)) / s_ref[0]
        nums["singular values err / s_1"] = sv_err
        if not sv_err <= mp.mpf("1e-12"):
            fails.append("singular values off by %s s_1" % mpmath.nstr(sv_err, 3))
    if case["method"] == "limit" and report.get("wx_rank") != info["k"]:
        fails.append("limit: reported rank(WX) %s, mpmath finds %d" % (report.get("wx_rank"), info["k"]))
    return fails, nums


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lowrank", required=True, help="path to the lowrank executable")
    ap.add_argument("--seed", type=int, default=20251123)
    args = ap.parse_args()
    t0 = time.time()
    cases = make_cases(args.seed)
    work = tempfile.mkdtemp(prefix="lowrank_independent_")
    failed = 0
    try:
        for case in cases:
            t = time.time()
            try:
                A, B, report = run_case(args.lowrank, case, work)
                fails, nums = check(case, A, B, report)
            except Exception as exc:  # a crash of the command is a failure of this case
                fails, nums = ["%s: %s" % (type(exc).__name__, exc)], {}
            status = "ok" if not fails else "FAILED"
            failed += bool(fails)
            shown = ", ".join("%s %s" % (k, mpmath.nstr(v, 2)) for k, v in nums.items())
            print("%-50s %-6s %s (%.1f s)" % (case["name"], status, shown, time.time() - t))
            for fmsg in fails:
                print("    " + fmsg)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d of %d cases passed (mpmath %s at %d bits, %.1f s)"
          % (len(cases) - failed, len(cases), mpmath.__version__, mp.prec, time.time() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
