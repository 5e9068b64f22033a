#!/usr/bin/env python3
"""lowrank-mpi under mpirun -np 1..4 on localhost (label "distributed"). One part per CTest test:

  rbound    the distributed R equals the single-process R within the rounding bound below
  corpus    corpus cases split into uneven shards (one empty), -np 4: `lowrank check` PASSes the
            factors against the stored reference, R within the bound of the one-rank R; the MPFR
            reference backend distributed reproduces the stored reference objective
  shards    P > number of files, P > N (empty ranks), whole-file split, globs, mixed dtypes
  gram      the Gram baseline (svd-llm, MPI_Reduce of X X^T) against its summation bound
  failures  a bad shard on one rank: every rank exits 2, the message names the rank and the file,
            no output folder appears; other refusals; a method breakdown: every rank exits 3,
            rank 0's report.json (status failed) and no factors
  cuda      GPU ranks (NCCL tree); prints "SKIPPED: no CUDA device" where there is none

The rounding bounds (also in distributed/README.md). Householder QR is columnwise backward stable:
a QR of an m x n matrix returns the exact R of A + dA with ||da_j|| <= g(m, n) ||a_j|| for every
column j. Two values of g are used, both stated with their source:
  worst case   g = n gt(m), gt(m) = c m u (Higham, Accuracy and Stability, 2nd ed., Lemma 19.3 and
               Theorem 19.4: n reflectors of length <= m; Higham leaves c a "small integer
               constant"; we take c = 4: the two inner products of length m that form the
               reflector's norm and v^T a cost m u each, the remaining roundings O(u), doubled);
  probabilistic g = lam sqrt(m n) u, lam = 8 (Higham & Mary, SIAM J. Sci. Comput. 41 (2019), the
               Householder QR bound of their section 4, under their model of independent
               mean-zero rounding errors; it fails with probability <= m n 2 exp(-lam^2 / 2)
               ~ 3e-11 m n per QR). For the 2n x n stack of a tree level this is the "c n u per
               level" of the issue, c = 8 sqrt(2).
Then, in Frobenius norm over all of X:
  * a rank's stream (flat TSQR, blocks of b rows on top of an n x n R; a block never spans two
    files): each step is a QR of at most (n + b) x n, of columns no longer than the rank's part of
    x_j, so B_p steps give B_p g(n + b, n) ||x_j^(p)||; ranks hold disjoint rows: all ranks
    together at most max_p B_p g(n + b, n) ||X||_F, B_p <= ceil(N_p / b) + files;
  * each tree level is one QR of [R_a; R_b] (2n x n) per node, on disjoint row sets:
    g(2n, n) ||X||_F per level, ceil(log2 P) levels.
  eps(P) = (max_p B_p g(n + b, n) + ceil(log2 P) g(2n, n)) ||X||_F.
R_d and R_s are exact R factors of X + dX_d and X + dX_s, so R^T R = (X + dX)^T (X + dX) for each, and
with ||X^T dX||_F <= ||X||_2 ||dX||_F, whatever the conditioning of X (R itself is determined only
up to an orthogonal factor on the left, which R^T R does not see):
  ||R_d^T R_d - R_s^T R_s||_F <= 2 ||X||_2 (eps(P) + eps(1)) + eps(P)^2 + eps(1)^2   (both g asserted)
and, with both diagonals made positive (R unique), for X of full column rank (J.-G. Sun, BIT 31
(1991), first-order bound ||dR||_F <= sqrt(2) kappa_2(A) ||dA||_F for A = QR, A = X + dX_s,
dA = dX_d - dX_s):
  ||D R_d - R_s||_F <= sqrt(2) kappa delta / (1 - kappa delta / ||R_s||_2),  delta = eps(P) + eps(1)
(asserted on well-conditioned data with the probabilistic g; with the worst-case g it is vacuous in
float32). (An orthogonal-Procrustes comparison min_Z ||R_d - Z R_s|| is NOT condition-free: the
Q factors of X + dX_d and X + dX_s span different spaces, by an angle ~ ||dX|| / s_min(X);
measured: 3e-9 on cond_1e12 against 1e-11 for eps.)
The evaluation in float64 adds at most 2 n u64 ||X||_F^2 to the Gram difference and 4 n u64 ||X||_F
to the sign-fixed one, included. Both bounds are
above what is observed (the printed ratios; the worst case by orders of magnitude); what they
must catch, a shard dropped or counted twice, a wrong row range, moves R by ||x_shard||, far above
them (asserted against the probabilistic bound: the test would see it).
"""
import argparse
import glob
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np

U64, U32 = 2.0 ** -53, 2.0 ** -24
C_REFL = 4   # worst case: gt(m) = c m u per reflector (Higham 19.3 / 19.4)
LAM = 8.0    # probabilistic: lam sqrt(m n) u per QR (Higham & Mary 2019)
FAILS = []


def g_qr(m, n, u, kind):
    """Columnwise backward error factor of one Householder QR of an m x n matrix."""
    return n * C_REFL * m * u if kind == "worst" else LAM * math.sqrt(m * n) * u


def levels(P):
    return max(0, math.ceil(math.log2(P))) if P > 1 else 0


def eps(P, n, b, rows_per_rank, files, u, xf, kind):
    bmax = max(-(-int(r) // b) + files for r in rows_per_rank)
    return (bmax * g_qr(n + b, n, u, kind) + levels(P) * g_qr(2 * n, n, u, kind)) * xf


def signfixed(Rd, Rs):
    d = np.sign(np.diag(Rd)) * np.sign(np.diag(Rs))
    d[d == 0] = 1
    return np.linalg.norm(d[:, None] * Rd - Rs)


def check(cond, what):
    if cond:
        print("ok:", what)
    else:
        print("FAILED:", what)
        FAILS.append(what)


class Env:
    def __init__(self, a):
        self.a = a
        self.work = a.work
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        self.corpus = os.path.join(a.source, "data", "corpus")

    def mpi(self, P, args, expect=0, rc_files=None):
        """Runs lowrank-mpi on P ranks. rc_files: a folder where each rank writes its exit code
        (then mpirun lets every rank finish instead of killing the others at the first failure)."""
        cmd = [self.a.mpirun, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", str(P)]
        if rc_files:
            os.makedirs(rc_files, exist_ok=True)
            cmd += ["--mca", "orte_abort_on_non_zero_status", "0",
                    "sh", "-c", '"$0" "$@"; rc=$?; echo $rc > "%s/rc.$OMPI_COMM_WORLD_RANK"; exit $rc' % rc_files]
        cmd += [self.a.lowrank_mpi] + [str(x) for x in args]
        env = dict(os.environ, OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_rmaps_base_oversubscribe="1")
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
        if expect is not None and (p.returncode == 0) != (expect == 0):
            print("command:", " ".join(cmd))
            print(p.stdout, p.stderr)
        return p

    def lowrank(self, args):
        return subprocess.run([self.a.lowrank] + [str(x) for x in args], capture_output=True, text=True, timeout=240)

    def split(self, X, sizes, prefix, fortran=(), dtypes=None):
        """Writes X's rows as files of the given sizes (in order); returns the paths."""
        assert sum(sizes) == X.shape[0]
        paths, at = [], 0
        for i, s in enumerate(sizes):
            part = X[at:at + s]
            at += s
            if dtypes:
                part = part.astype(dtypes[i])
            if i in fortran:
                part = np.asfortranarray(part)
            path = os.path.join(self.work, "%s%d.npy" % (prefix, i))
            np.save(path, part)
            paths.append(path)
        return paths


def acts(paths):
    out = []
    for p in paths:
        out += ["--acts", p]
    return out


def dlatms(rng, N, n, cond):
    U, _ = np.linalg.qr(rng.standard_normal((N, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = cond ** (-np.arange(n) / (n - 1))
    return (U * s) @ V.T


def report(out):
    return json.load(open(os.path.join(out, "report.json")))


def compare_r(e, tag, out_d, out_s, P, n, b, files, u, X, sign_check):
    """Asserts the Gram bound (worst case and probabilistic) and, if sign_check, the sign-fixed
    one; returns the probabilistic Gram bound."""
    rd, rs = report(out_d), report(out_s)
    Rd, Rs = np.load(os.path.join(out_d, "R.npy")), np.load(os.path.join(out_s, "R.npy"))
    xf, x2 = np.linalg.norm(X), np.linalg.norm(X, 2)
    d = np.linalg.norm(Rd.T @ Rd - Rs.T @ Rs)
    bounds, deltas = {}, {}
    for kind in ("worst", "prob"):
        ed = eps(P, n, b, rd["distributed"]["rows_per_rank"], files, u, xf, kind)
        es = eps(1, n, b, rs["distributed"]["rows_per_rank"], files, u, xf, kind)
        deltas[kind] = ed + es + 4 * n * U64 * xf
        bounds[kind] = 2 * x2 * (ed + es) + ed * ed + es * es + 2 * n * U64 * xf * xf
        print("  %-40s P=%d  ||R_d^T R_d - R_s^T R_s||_F = %.3e  %-5s bound %.3e  ratio %.2e" % (
            tag, P, d, kind, bounds[kind], d / bounds[kind]))
        check(d <= bounds[kind], "%s P=%d: R^T R within the %s bound" % (tag, P, kind))
    if sign_check:
        delta = deltas["prob"]
        sv = np.linalg.svd(Rs, compute_uv=False)
        kappa = sv[0] / sv[-1]
        x = kappa * delta / sv[0]
        check(x < 0.5, "%s: kappa delta / ||R||_2 = %.2e < 1/2 (the sign-fixed bound applies)" % (tag, x))
        sb = math.sqrt(2) * kappa * delta / (1 - x)
        ds = signfixed(Rd, Rs)
        print("  %-40s P=%d  ||D R_d - R_s||_F = %.3e  prob  bound %.3e  ratio %.2e (kappa %.1e)" % (
            tag, P, ds, sb, ds / sb, kappa))
        check(ds <= sb, "%s P=%d: R equals the single-process R up to row signs within the bound" % (tag, P))
    return bounds["prob"]


# ---------------------------------------------------------------------------------------------
def part_rbound(e):
    rng = np.random.default_rng(17)
    n, N, b = 24, 1000, 64
    sizes = [397, 0, 131, 250, 222]  # uneven, one empty
    for name, cond, sign_check in (("well-conditioned (cond 1e2)", 1e2, True), ("ill-conditioned (cond 1e10)", 1e10, False)):
        X = dlatms(rng, N, n, cond) * 3.0
        W = rng.standard_normal((16, n))
        tag = "c%g" % cond
        paths = e.split(X, sizes, tag + "_", fortran=(3,))
        np.save(os.path.join(e.work, tag + "_W.npy"), W)
        for dtype, u in (("float64", U64), ("float32", U32)):
            common = ["solve", "-W", os.path.join(e.work, tag + "_W.npy"), *acts(paths), "-r", 6, "--backend", "cpu",
                      "--dtype", dtype, "--block", b, "--save-factor", "-q"]
            single = os.path.join(e.work, "%s_%s_P1" % (tag, dtype))
            p = e.mpi(1, common + ["-o", single])
            check(p.returncode == 0, "%s %s: one rank runs" % (name, dtype))
            Ps = ((2, "rows"), (3, "rows"), (4, "rows"), (4, "files")) if dtype == "float64" else ((3, "rows"),)
            for P, split in Ps:
                out = os.path.join(e.work, "%s_%s_P%d_%s" % (tag, dtype, P, split))
                p = e.mpi(P, common + ["--split", split, "-o", out])
                check(p.returncode == 0, "%s %s: %d ranks (--split %s) run" % (name, dtype, P, split))
                if p.returncode == 0:
                    check(report(out)["distributed"]["split"] == split, "split %s used" % split)
                    bound = compare_r(e, "%s %s %s" % (name, dtype, split), out, single, P, n, b, len(sizes), u, X,
                                      sign_check)
            # The test can fail: R without the first shard is far outside the bound.
            Rs = np.load(os.path.join(single, "R.npy"))
            Rm = np.linalg.qr(X[397:], mode="r")
            d = np.linalg.norm(Rm.T @ Rm - Rs.T @ Rs)
            check(d > 100 * bound, "%s %s: dropping one shard moves R by %.2e, %.0e x the bound" % (
                name, dtype, d, d / bound))


def corpus_case(e, name, dtype="float64", P=4, backend="cpu", extra=()):
    c = os.path.join(e.corpus, name)
    case = json.load(open(os.path.join(c, "case.json")))
    X = np.load(os.path.join(c, "X.npy"))
    N = X.shape[0]
    a = N // 2
    bsz = (N - a) // 3
    sizes = [a, 0, bsz, N - a - bsz]  # uneven, one empty
    paths = e.split(X, sizes, name + "_")
    r, mu = case["rank"], case.get("mu", 0.0)
    common = ["solve", "-W", os.path.join(c, "W.npy"), *acts(paths), "-r", r, "--mu", repr(mu), "--backend", backend,
              "--block", 16, "--save-factor", "-q", *extra]
    if backend != "reference":
        common += ["--dtype", dtype]
    out = os.path.join(e.work, "%s_%s_P%d" % (name, backend, P))
    p = e.mpi(P, common + ["-o", out])
    check(p.returncode == 0, "%s (%s %s): -np %d runs" % (name, backend, dtype, P))
    if p.returncode != 0:
        return None, None
    q = e.lowrank(["check", "--case", c, "--a", os.path.join(out, "A.npy"), "--b", os.path.join(out, "B.npy"), "--json"])
    j = json.loads(q.stdout) if q.stdout.strip().startswith("{") else {}
    fw = j.get("forward", {})
    check(q.returncode == 0, "%s (%s %s, %d ranks): lowrank check PASS (objective ratio %.2g, forward ratio %s)" % (
        name, backend, dtype, P, j.get("objective", {}).get("ratio", float("nan")),
        "%.2g" % fw["ratio"] if fw.get("judged") else "not judged"))
    if q.returncode != 0:
        print(q.stdout, q.stderr)
    return out, common


def part_corpus(e):
    cases = [("cond_1e12", "float64"), ("llm_like_64", "float64"), ("rankdef_exact_k6_r8", "float64"),
             ("few_tokens_N20_n32_mu_1e-04", "float64"), ("tie_at_cut_r4_mu_5e-01", "float64"),
             ("outliers_1e3", "float64"), ("f32_cond_1e06", "float32")]
    for name, dtype in cases:
        out, common = corpus_case(e, name, dtype)
        if not out:
            continue
        # The single-process answer on the same shards (one rank) and the R bound between them.
        single = out + "_single"
        p = e.mpi(1, common + ["-o", single])
        check(p.returncode == 0, "%s: one rank runs" % name)
        X = np.load(os.path.join(e.corpus, name, "X.npy")).astype(np.float64)
        u = U32 if dtype == "float32" else U64
        compare_r(e, name, out, single, 4, X.shape[1], 16, 4, u, X, False)
        # ... and `lowrank solve` (one process, the original X.npy): the same verdict.
        s_out = out + "_lowrank_solve"
        c = os.path.join(e.corpus, name)
        case = json.load(open(os.path.join(c, "case.json")))
        q = e.lowrank(["solve", "-W", os.path.join(c, "W.npy"), "--acts", os.path.join(c, "X.npy"), "-r", case["rank"],
                       "--mu", repr(case.get("mu", 0.0)), "--backend", "cpu", "--dtype", dtype, "-q", "-o", s_out])
        check(q.returncode == 0, "%s: lowrank solve runs" % name)
        fd, fs = report(out)["objective"], report(s_out)["objective"]
        Ad, Bd = np.load(os.path.join(out, "A.npy")), np.load(os.path.join(out, "B.npy"))
        As, Bs = np.load(os.path.join(s_out, "A.npy")), np.load(os.path.join(s_out, "B.npy"))
        Ws = np.load(os.path.join(c, "W_star.npy"))
        print("  %-34s objective %.10e (4 ranks) vs %.10e (lowrank solve); ||W'_4 - W'_1||_F / ||W'_*||_F = %.2e" % (
            name, fd, fs, np.linalg.norm(Ad @ Bd - As @ Bs) / max(np.linalg.norm(Ws), 1e-300)))
    # The MPFR reference, distributed (3 ranks, 256 bits): the stored reference objective, 40 digits.
    name = "well_conditioned_16"
    out, _ = corpus_case(e, name, P=3, backend="reference", extra=("--bits", 256))
    if out:
        ref = json.load(open(os.path.join(e.corpus, name, "reference.json")))
        f_ref = float(ref["objective"]) if not isinstance(ref.get("objective"), dict) else None
        f_d = report(out)["objective_decimal"]
        key = next((k for k in ("objective_decimal", "objective") if k in ref), None)
        import decimal
        decimal.getcontext().prec = 60
        fr, fd = decimal.Decimal(str(ref[key])), decimal.Decimal(f_d)
        rel = abs(fr - fd) / abs(fr)
        # The 256-bit backward errors (eps above with u = 2^-256) move f by ~1e-70 relative; the
        # stored value has 40 significant digits: 1e-39 is what can be asserted.
        check(rel <= decimal.Decimal("1e-39"), "reference backend on 3 ranks: objective %s equals the stored %s "
              "(relative difference %.1e <= 1e-39)" % (f_d[:22], str(ref[key])[:22], float(rel)))


def part_shards(e):
    name = "cond_1e08"
    c = os.path.join(e.corpus, name)
    X = np.load(os.path.join(c, "X.npy"))
    N, n = X.shape
    W = os.path.join(c, "W.npy")
    base = ["solve", "-W", W, "-r", 8, "--backend", "cpu", "--block", 16, "--save-factor", "-q"]
    one = os.path.join(e.work, "one.npy")
    np.save(one, X)
    single = os.path.join(e.work, "single")
    check(e.mpi(1, base + ["--acts", one, "-o", single]).returncode == 0, "one rank, one file")
    # P > number of files: one file split by rows over 4 ranks.
    out = os.path.join(e.work, "p4_one_file")
    p = e.mpi(4, base + ["--acts", one, "-o", out])
    check(p.returncode == 0, "4 ranks, 1 file")
    if p.returncode == 0:
        rep = report(out)["distributed"]
        check(rep["split"] == "rows" and rep["rows_per_rank"] == [24, 24, 24, 24], "rows split 24/24/24/24: %s" % rep)
        compare_r(e, "1 file over 4 ranks", out, single, 4, n, 16, 1, U64, X, False)
        q = e.lowrank(["check", "--case", c, "--a", os.path.join(out, "A.npy"), "--b", os.path.join(out, "B.npy")])
        check(q.returncode == 0, "1 file over 4 ranks: check PASS")
    # Whole files: 4 equal files on 2 ranks (auto picks files), given as a glob.
    paths = e.split(X, [24] * 4, "eq_")
    out = os.path.join(e.work, "p2_files")
    p = e.mpi(2, base + ["--acts", os.path.join(e.work, "eq_*.npy"), "-o", out])
    check(p.returncode == 0, "2 ranks, glob of 4 files")
    if p.returncode == 0:
        rep = report(out)
        check(rep["distributed"]["split"] == "files" and rep["distributed"]["files"] == 4, "auto split = files, 4 files")
        check(rep["inputs"]["acts"] == sorted(paths), "the glob expanded, sorted")
        compare_r(e, "4 files over 2 ranks", out, single, 2, n, 16, 4, U64, X, False)
    # lowrank solve (one process) takes the same repeated --acts: the files' rows one after the other.
    s_out = os.path.join(e.work, "lowrank_solve_4_files")
    q = e.lowrank(["solve", "-W", W, *acts(paths), "-r", 8, "--backend", "cpu", "-q", "-o", s_out])
    check(q.returncode == 0 and report(s_out)["shape"]["N"] == N and report(s_out)["inputs"]["acts"] == paths,
          "lowrank solve with 4 --acts sees N = %d tokens" % N)
    if q.returncode == 0:
        q = e.lowrank(["check", "--case", c, "--a", os.path.join(s_out, "A.npy"), "--b", os.path.join(s_out, "B.npy")])
        check(q.returncode == 0, "lowrank solve with 4 --acts: check PASS")
    # Fewer tokens than ranks: single_token_N1_r4 (N = 1) on 3 ranks; two ranks stream nothing.
    c1 = os.path.join(e.corpus, "single_token_N1_r4")
    case = json.load(open(os.path.join(c1, "case.json")))
    out = os.path.join(e.work, "n1_p3")
    p = e.mpi(3, ["solve", "-W", os.path.join(c1, "W.npy"), "--acts", os.path.join(c1, "X.npy"), "-r", case["rank"],
                  "--backend", "cpu", "-q", "-o", out])
    check(p.returncode == 0, "N = 1 token on 3 ranks")
    if p.returncode == 0:
        check(report(out)["distributed"]["rows_per_rank"] == [0, 0, 1], "rows 0/0/1")
        q = e.lowrank(["check", "--case", c1, "--a", os.path.join(out, "A.npy"), "--b", os.path.join(out, "B.npy")])
        check(q.returncode == 0, "N = 1 on 3 ranks: check PASS")
    # Mixed dtypes: a float32 shard makes X float32-accurate (u_data = 2^-24 in the tolerances).
    mixed = e.split(X, [48, 48], "mixed_", dtypes=[np.float64, np.float32])
    out = os.path.join(e.work, "mixed")
    p = e.mpi(2, base + acts(mixed) + ["-o", out])
    check(p.returncode == 0, "mixed float32 / float64 shards")
    if p.returncode == 0:
        rep = report(out)
        xf = math.sqrt(sum(v * v for v in rep["x_singular_values"]))
        expect = (U32 + n * U64) * xf
        check(abs(rep["x_rank_tol"] - expect) <= 1e-6 * expect,
              "x_rank_tol %.4e = (u_float32 + n u) ||X||_F = %.4e" % (rep["x_rank_tol"], expect))


def part_gram(e):
    name = "well_conditioned_16"
    c = os.path.join(e.corpus, name)
    case = json.load(open(os.path.join(c, "case.json")))
    X = np.load(os.path.join(c, "X.npy"))
    N = X.shape[0]
    paths = e.split(X, [N // 2, 0, N - N // 2 - 5, 5], "g_")
    common = ["solve", "-W", os.path.join(c, "W.npy"), *acts(paths), "-r", case["rank"], "--method", "svd-llm",
              "--backend", "cpu", "--block", 16, "--save-factor", "-q"]
    single, out = os.path.join(e.work, "g1"), os.path.join(e.work, "g3")
    check(e.mpi(1, common + ["-o", single]).returncode == 0, "svd-llm on one rank")
    p = e.mpi(3, common + ["-o", out])
    check(p.returncode == 0, "svd-llm on 3 ranks")
    if p.returncode != 0:
        return
    rep = report(out)["distributed"]
    check(rep["combine"].startswith("MPI_Reduce"), "Gram combined by MPI_Reduce: %s" % rep["combine"])
    Gd, Gs = np.load(os.path.join(out, "G.npy")), np.load(os.path.join(single, "G.npy"))
    # Any summation order of the N products x_ki x_kj: |dG_ij| <= gamma_N sum_k |x_ki| |x_kj|
    # (Higham, (3.4)-(3.5) and Lemma 3.1), so ||G_d - G_s||_F <= 2 gamma_N || |X|^T |X| ||_F.
    gN = N * U64 / (1 - N * U64)
    bound = 2 * gN * np.linalg.norm(np.abs(X).T @ np.abs(X))
    d = np.linalg.norm(Gd - Gs)
    print("  ||G_3 - G_1||_F = %.3e  bound %.3e  ratio %.2e" % (d, bound, d / bound))
    check(d <= bound, "Gram of 3 ranks within the summation bound of one rank's")
    check(np.linalg.norm(Gd - X.T @ X) <= bound, "Gram of 3 ranks within the bound of X^T X")
    q = e.lowrank(["check", "--case", c, "--a", os.path.join(out, "A.npy"), "--b", os.path.join(out, "B.npy")])
    check(q.returncode == 0, "svd-llm on 3 ranks passes the well-conditioned case (as svd-llm does on one)")


def part_failures(e):
    c = os.path.join(e.corpus, "cond_1e08")
    X = np.load(os.path.join(c, "X.npy"))
    W = os.path.join(c, "W.npy")
    base = ["solve", "-W", W, "-r", 8, "--backend", "cpu", "--block", 8, "-q"]

    def every_rank_exits(tag, P, args, code):
        # Each rank's own exit code recorded (mpirun then lets every rank finish instead of
        # killing the others at the first non-zero exit, and itself exits 0).
        rcdir = os.path.join(e.work, "rc_" + tag.replace(" ", "_"))
        e.mpi(P, args, expect=None, rc_files=rcdir)
        codes = sorted(open(f).read().strip() for f in glob.glob(os.path.join(rcdir, "rc.*")))
        check(codes == [str(code)] * P, "%s: every one of the %d ranks exits %d (got %s)" % (tag, P, code, codes))

    def expect_fail(tag, P, args, needles, out, every_rank=False):
        p = e.mpi(P, base + args + ["-o", out], expect=2)
        check(p.returncode != 0, "%s: mpirun exits non-zero (%d)" % (tag, p.returncode))
        if every_rank:
            every_rank_exits(tag, P, base + args + ["-o", out], 2)  # refused input
        for needle in needles:
            check(needle in p.stderr, "%s: the message has '%s'" % (tag, needle))
        msgs = [l for l in p.stderr.splitlines() if l.startswith("lowrank-mpi: error")]
        check(len(msgs) == 1, "%s: one error line: %s" % (tag, msgs))
        parent = os.path.dirname(out)
        left = [f for f in os.listdir(parent) if os.path.basename(out) in f]
        check(not left, "%s: nothing written (%s)" % (tag, left))

    # NaN in the file of rank 2 (4 equal files: whole files, file k on rank k).
    paths = e.split(X, [24] * 4, "nan_")
    Y = np.load(paths[2])
    Y[5, 3] = np.nan
    np.save(paths[2], Y)
    expect_fail("NaN on rank 2", 4, acts(paths), ["rank 2 of 4 failed", "nan_2.npy", "(5, 3)", "NaN"],
                os.path.join(e.work, "out_nan"), every_rank=True)
    # Two bad ranks: the lowest is named, the other counted.
    Z = np.load(paths[3])
    Z[0, 0] = np.inf
    np.save(paths[3], Z)
    np.save(paths[2], np.load(paths[0]))
    Y1 = np.load(paths[1])
    Y1[2, 2] = np.nan
    np.save(paths[1], Y1)
    expect_fail("NaN on rank 1, Inf on rank 3", 4, acts(paths), ["rank 1 of 4 failed", "nan_1.npy", "and 1 other rank"],
                os.path.join(e.work, "out_two"), every_rank=True)
    # A bad shard found from its header (rank 0 reads every header): wrong n, truncated.
    good = e.split(X, [48, 48], "ok_")
    wide = os.path.join(e.work, "wide.npy")
    np.save(wide, np.zeros((5, X.shape[1] + 1)))
    expect_fail("wrong n", 3, acts(good) + ["--acts", wide], ["wide.npy", "5 x 33", "n = 32"], os.path.join(e.work, "out_w"))
    trunc = os.path.join(e.work, "trunc.npy")
    open(trunc, "wb").write(open(good[1], "rb").read()[:400])
    expect_fail("truncated", 2, acts(good[:1]) + ["--acts", trunc], ["trunc.npy", "truncated"], os.path.join(e.work, "out_t"))
    expect_fail("glob matching nothing", 2, ["--acts", os.path.join(e.work, "zz*.npy")], ["no file matches"],
                os.path.join(e.work, "out_g"))
    # Refused options and problems: the same messages as lowrank solve.
    base[base.index("-r") + 1] = 40
    expect_fail("rank above min(m, n)", 2, acts(good), ["rank 40 out of range"], os.path.join(e.work, "out_r"))
    base[base.index("-r") + 1] = 8
    afile = os.path.join(e.work, "a_file")
    open(afile, "w").write("x")
    p = e.mpi(2, base + acts(good) + ["-o", afile], expect=2)
    check(p.returncode != 0 and "exists and is not a directory" in p.stderr, "--out naming a file is refused")
    # A method breakdown is exit 3 on every rank, as for lowrank solve, with rank 0's report
    # (status failed) and no factors: svd-llm in float32 on data whose X X^T overflows.
    c32 = os.path.join(e.corpus, "f32_overflow_1e20")
    X32 = np.load(os.path.join(c32, "X.npy"))
    halves = e.split(X32, [X32.shape[0] // 2, X32.shape[0] - X32.shape[0] // 2], "ovf_")
    out = os.path.join(e.work, "out_breakdown")
    bd = ["solve", "-W", os.path.join(c32, "W.npy"), "-r", 4, "--backend", "cpu", "--dtype", "float32",
          "--method", "svd-llm", "-q"] + acts(halves) + ["-o", out]
    p = e.mpi(2, bd, expect=3)
    check(p.returncode != 0 and "not finite in float32" in p.stderr and "rank 0 of 2 failed" in p.stderr,
          "svd-llm breakdown on 2 ranks: named (%s)" % p.stderr.strip())
    rep = json.load(open(os.path.join(out, "report.json"))) if os.path.exists(os.path.join(out, "report.json")) else {}
    check(rep.get("status") == "failed" and not os.path.exists(os.path.join(out, "A.npy")),
          "svd-llm breakdown on 2 ranks: report.json says failed, no factors")
    every_rank_exits("breakdown", 2, bd, 3)
    # And a good run after all that writes its folder.
    out = os.path.join(e.work, "out_ok")
    check(e.mpi(3, base + acts(good) + ["-o", out]).returncode == 0 and
          sorted(os.listdir(out)) == [".lowrank-output", "A.npy", "B.npy", "report.json"],
          "a good run writes A.npy, B.npy, report.json (and the marker that lets a later run replace the folder)")


def part_cuda(e):
    c = os.path.join(e.corpus, "llm_like_64")
    case = json.load(open(os.path.join(c, "case.json")))
    base = ["solve", "-W", os.path.join(c, "W.npy"), "--acts", os.path.join(c, "X.npy"), "-r", case["rank"],
            "--backend", "cuda", "--block", 64, "-q"]
    runs = [(1, ["--gpu-reduce", "nccl"]), (2, ["--gpu-reduce", "mpi"])]
    for P, extra in runs:
        out = os.path.join(e.work, "cuda_P%d" % P)
        p = e.mpi(P, base + extra + ["-o", out], expect=None)
        if p.returncode != 0 and "no CUDA device" in p.stderr:
            print(p.stderr.splitlines()[0] if p.stderr else "")
            print("SKIPPED: no CUDA device")
            return
        check(p.returncode == 0, "cuda ranks, -np %d %s" % (P, " ".join(extra)))
        if p.returncode != 0:
            print(p.stderr)
            continue
        q = e.lowrank(["check", "--case", c, "--a", os.path.join(out, "A.npy"), "--b", os.path.join(out, "B.npy")])
        check(q.returncode == 0, "cuda ranks, -np %d: check PASS" % P)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["rbound", "corpus", "shards", "gram", "failures", "cuda"])
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--lowrank-mpi", required=True)
    ap.add_argument("--lowrank", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    e = Env(a)
    globals()["part_" + a.part](e)
    if FAILS:
        print("%d check(s) failed:" % len(FAILS))
        for f in FAILS:
            print("  " + f)
        sys.exit(1)
    print("all %s checks passed" % a.part)


if __name__ == "__main__":
    main()
