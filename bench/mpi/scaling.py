#!/usr/bin/env python3
"""Strong and weak scaling of lowrank-mpi on 1..4 ranks of this machine, a fitted model, and its
extrapolation to P = 64 and 512. Writes bench/results/mpi_scaling.{csv,md,png}.

    /usr/bin/python3 bench/mpi/scaling.py [--build build] [--reps 5] [--n 256] [--rows 32768]

Data: float64 activations, n features, 4 files of `rows` tokens each (seeded Gaussian; the
timings do not depend on the values). Strong scaling: all 4 files (N = 4 rows) on P = 1..4 ranks.
Weak scaling: the first P files (`rows` tokens per rank) on P ranks. Each configuration runs
`reps` times, COALA (streaming TSQR + the tree of qr_R([R_a; R_b])) and SVD-LLM (Gram + MPI_Reduce),
one OpenBLAS thread per rank; medians are reported. Times are rank 0's phases from report.json
(local pass = the slowest rank's, combine, the rest of the solve) and the wall time of mpirun
(process start-up included).

Model (per method), for P ranks on a machine with C cores:
    T(P) = a * f_local * max(1, P / C) + t_level * ceil(log2 P) + c
f_local = the local pass's nominal flops on the most loaded rank (TSQR 2 N_p n^2, Gram N_p n^2),
the factor max(1, P / C) the sharing of C cores by P ranks (none on a cluster with a core per
rank), t_level the cost of one tree level (a message of n (n + 1) / 2 words for R, n^2 for the
Gram reduce, and for R one 2n x n triangle-on-triangle QR, 2 n^3 / 3 flops), c what does not
scale (the SVD on rank 0 and the rest of the solve). Each constant is fitted to its own measured
phase on the runs with P <= C (no oversubscription): a = median of local / f_local, t_level =
median of combine / ceil(log2 P), c = median of the rest; then the sum is checked against the
measured totals of every run, P > C included.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(mpirun, exe, P, files, W, method, out, block):
    cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", str(P), exe, "solve",
           "-W", W, "-r", "16", "--backend", "cpu", "--method", method, "--block", str(block), "-q", "-o", out]
    for f in files:
        cmd += ["--acts", f]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMPI_MCA_btl_vader_single_copy_mechanism="none")
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit("failed: " + " ".join(cmd) + "\n" + p.stderr)
    r = json.load(open(os.path.join(out, "report.json")))
    d = r["distributed"]
    secs = r["seconds"]
    return {
        "wall": wall,
        "local": d["seconds_local_max"],
        "combine": d["seconds_combine"],
        "combine_compute": d["rank0_seconds_combine_compute"],
        "accumulate": secs["accumulate"],
        "solve_rest": sum(v for k, v in secs.items() if k != "accumulate"),
        "total": sum(secs.values()),
        "rows_max": max(d["rows_per_rank"]),
        "words": d["words_per_message"],
        "levels": d["tree_levels"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--rows", type=int, default=32768)
    ap.add_argument("--block", type=int, default=4096)
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--work", default="/tmp/lowrank-mpi-scaling")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    a = ap.parse_args()
    mpirun = shutil.which("mpirun")
    exe = os.path.join(a.build, "lowrank-mpi")
    n, rows, C = a.n, a.rows, a.cores
    os.makedirs(a.work, exist_ok=True)
    rng = np.random.default_rng(2026)
    files = []
    for i in range(4):
        f = os.path.join(a.work, "x%d.npy" % i)
        if not os.path.exists(f) or np.load(f, mmap_mode="r").shape != (rows, n):
            np.save(f, rng.standard_normal((rows, n)))
        files.append(f)
    W = os.path.join(a.work, "W.npy")
    np.save(W, rng.standard_normal((n, n)))

    configs = []
    for method in ("coala", "svd-llm"):
        for P in (1, 2, 3, 4):
            configs.append(("strong", method, P, files))
        for P in (1, 2, 3, 4):
            configs.append(("weak", method, P, files[:P]))
    results = []
    # Interleave the repetitions so that a burst of load from other users of the machine spreads
    # over all configurations instead of spoiling one.
    samples = {i: [] for i in range(len(configs))}
    for rep in range(a.reps):
        for i, (kind, method, P, fs) in enumerate(configs):
            samples[i].append(run(mpirun, exe, P, fs, W, method, os.path.join(a.work, "out"), a.block))
        print("rep %d/%d done" % (rep + 1, a.reps), file=sys.stderr)
    for i, (kind, method, P, fs) in enumerate(configs):
        s = samples[i]
        med = {k: statistics.median(x[k] for x in s) for k in s[0]}
        med.update(kind=kind, method=method, P=P, N=rows * len(fs), n=n)
        med["flops_local"] = (2.0 if method == "coala" else 1.0) * med["rows_max"] * n * n
        results.append(med)

    # ---- fit, one constant per phase, on the points with P <= C ----
    #   a       = median over those points of local / f_local (s per flop of the local pass)
    #   t_level = median over those points with P > 1 of combine / ceil(log2 P)
    #   c       = median of the rest of the solve (rank 0 alone: W R^T, SVD, factors, report)
    fits = {}
    for method in ("coala", "svd-llm"):
        pts = [r for r in results if r["method"] == method and r["P"] <= C]
        aa = statistics.median(r["local"] / r["flops_local"] for r in pts)
        tl = statistics.median(r["combine"] / r["levels"] for r in pts if r["P"] > 1)
        tc = statistics.median(r["combine_compute"] / r["levels"] for r in pts if r["P"] > 1)
        c = statistics.median(r["solve_rest"] for r in pts)
        fits[method] = (aa, tl, c, tc)

    def model(method, flops_local, P, cores):
        aa, tl, c, _ = fits[method]
        L = math.ceil(math.log2(P)) if P > 1 else 0
        return aa * flops_local * max(1.0, P / cores) + tl * L + c

    for r in results:
        r["model"] = model(r["method"], r["flops_local"], r["P"], C)

    os.makedirs(a.out, exist_ok=True)
    keys = ["kind", "method", "P", "N", "n", "rows_max", "wall", "total", "accumulate", "local", "combine",
            "combine_compute", "solve_rest", "model"]
    with open(os.path.join(a.out, "mpi_scaling.csv"), "w") as f:
        f.write(",".join(keys) + "\n")
        for r in results:
            f.write(",".join(str(r[k]) if not isinstance(r[k], float) else "%.6g" % r[k] for k in keys) + "\n")

    # ---- extrapolation: a core per rank (no sharing) ----
    # strong: N = 512 rows tokens fixed (at P = 512 each rank holds `rows`); weak: `rows` per rank.
    Nstrong = 512 * rows
    big = []
    for method in ("coala", "svd-llm"):
        per = 2.0 if method == "coala" else 1.0
        for P in (64, 512):
            t = model(method, per * (Nstrong / P) * n * n, P, P)
            big.append((method, "strong", P, Nstrong, t, model(method, per * Nstrong * n * n, 1, 1) / t))
            t = model(method, per * rows * n * n, P, P)
            big.append((method, "weak", P, rows * P, t, model(method, per * rows * n * n, 1, 1) / t))

    # ---- plot ----
    dat = os.path.join(a.work, "plot.dat")
    with open(dat, "w") as f:
        for method in ("coala", "svd-llm"):
            for kind in ("strong", "weak"):
                f.write("# %s %s\n" % (method, kind))
                for r in results:
                    if r["method"] == method and r["kind"] == kind:
                        f.write("%d %g %g %g\n" % (r["P"], r["total"], r["model"], r["wall"]))
                f.write("\n\n")
    ext = os.path.join(a.work, "ext.dat")
    with open(ext, "w") as f:
        for method in ("coala", "svd-llm"):
            for kind in ("strong", "weak"):
                f.write("# %s %s\n" % (method, kind))
                for P in [2 ** k for k in range(0, 10)]:
                    per = 2.0 if method == "coala" else 1.0
                    Nrank = Nstrong / P if kind == "strong" else rows
                    f.write("%d %g\n" % (P, model(method, per * Nrank * n * n, P, P)))
                f.write("\n\n")
    png = os.path.join(a.out, "mpi_scaling.png")
    gp = """
set terminal pngcairo size 1200,480 font ',10'
set output '%s'
set multiplot layout 1,2
set title 'measured (points, medians of %d) and fitted model (lines), n = %d, %d cores'
set xlabel 'ranks P'; set ylabel 'seconds (rank 0: local pass + combine + solve)'
set xrange [0.8:4.2]; set xtics 1; set key top right; set grid
plot '%s' index 0 u 1:2 w p pt 7 lc 1 t 'coala strong (N = %d)', '' index 0 u 1:3 w l lc 1 notitle, \\
     '' index 1 u 1:2 w p pt 5 lc 2 t 'coala weak (%d rows/rank)', '' index 1 u 1:3 w l lc 2 notitle, \\
     '' index 2 u 1:2 w p pt 6 lc 3 t 'svd-llm strong', '' index 2 u 1:3 w l lc 3 notitle, \\
     '' index 3 u 1:2 w p pt 4 lc 4 t 'svd-llm weak', '' index 3 u 1:3 w l lc 4 notitle
set title 'model with a core per rank: strong (N = %d) and weak (%d rows/rank)'
set xrange [1:600]; set logscale xy; set xtics (1,2,4,8,16,32,64,128,256,512); set yrange [0.03:*]
plot '%s' index 0 u 1:2 w lp lc 1 t 'coala strong', '' index 1 u 1:2 w lp lc 2 t 'coala weak', \\
     '' index 2 u 1:2 w lp lc 3 t 'svd-llm strong', '' index 3 u 1:2 w lp lc 4 t 'svd-llm weak'
unset multiplot
""" % (png, a.reps, n, C, dat, 4 * rows, rows, Nstrong, rows, ext)
    subprocess.run(["gnuplot"], input=gp, text=True, check=True)

    # ---- table ----
    lines = []
    lines.append("| kind | method | P | N | wall (mpirun) | rank 0 total | local pass (slowest rank) | combine | "
                 "rest of solve | model | model / measured |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        lines.append("| %s | %s | %d%s | %d | %.3f | %.3f | %.3f | %.4f | %.3f | %.3f | %.2f |" % (
            r["kind"], r["method"], r["P"], " *" if r["P"] > C else "", r["N"], r["wall"], r["total"], r["local"],
            r["combine"], r["solve_rest"], r["model"], r["model"] / r["total"]))
    fit_lines = ["| method | a: local pass | t_level: one tree level (of which combine flops) | c: rest of the solve |",
                 "|---|---|---|---|"]
    for method, (aa, tl, c, tc) in fits.items():
        fit_lines.append("| %s | %.3g s/GFLOP (%.1f GFLOP/s) | %.3g ms (%.3g ms) | %.3g s |" % (
            method, aa * 1e9, 1e-9 / aa, tl * 1e3, tc * 1e3, c))
    big_lines = ["| method | scaling | P | N | model seconds | T(1) / T(P) (strong: speed-up; weak: efficiency) |", "|---|---|---|---|---|---|"]
    for method, kind, P, N, t, sp in big:
        big_lines.append("| %s | %s | %d | %d | %.3g | %.3g |" % (method, kind, P, N, t, sp))
    json.dump({"results": results, "fits": {k: list(v) for k, v in fits.items()}, "extrapolation": big},
              open(os.path.join(a.work, "scaling.json"), "w"), indent=1)
    print("\n".join(lines))
    print("\n".join(fit_lines))
    print("\n".join(big_lines))


if __name__ == "__main__":
    main()
