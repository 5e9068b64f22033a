"""The second paper (Yaras et al., ICML 2024) through ``lowrank.dynamics.train`` (the C++ trainer
of ``lowrank dynamics train``): singular values of every layer over time with d - 2r of them on
rho(t), compressed against full loss curves, and the speed of the compressed network."""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from .report import Claim, Section, figure, fmt, png_of

U64 = 2.0 ** -53


def invariance(command: str, log, d: int = 60, r: int = 3, steps: int = 1500) -> Section:
    from .. import dynamics
    t0 = time.perf_counter()
    kw = dict(width=d, rank=r, eta=30.0, eps=0.05, steps=steps, record_every=10, seed=1)
    log(f"  dynamics: full network d = {d}, r = {r}, L = 3, {steps} steps")
    full = dynamics.train(**kw)
    log("  dynamics: compressed network (2r x 2r inner factors, gamma = 0)")
    comp = dynamics.train(compressed=True, gamma=0.0, **kw)
    cf, cc = full.curve, comp.curve
    rows = []
    for i in range(len(cf)):
        rows.append([str(int(cf["step"][i])), fmt(cf["rho"][i]), fmt(cf["max_invariant_dev"][i]), fmt(cf["loss"][i]),
                     fmt(cc["loss"][i]) if i < len(cc) else "-", fmt(cf["recovery_error"][i]),
                     fmt(cc["recovery_error"][i]) if i < len(cc) else "-"])
    # Singular values over time (first layer, and every layer in light colour).
    fig, axes = figure(12, 4, ncols=2)
    ax = axes[0]
    steps_rec = [s for s, _, _ in full.spectra]
    rhos = [rho for _, rho, _ in full.spectra]
    L = len(full.spectra[0][2])
    for l in range(L):
        S = np.array([sv[l] for _, _, sv in full.spectra])  # records x d
        for j in range(S.shape[1]):
            on = np.all(np.abs(S[:, j] - np.array(rhos)) <= 1e-6 * 0.05)
            ax.plot(steps_rec, S[:, j], color="#d62728" if on else "#1f77b4", lw=0.6, alpha=0.5)
    ax.plot(steps_rec, rhos, "k--", lw=1.2, label="rho(t)")
    ax.set_yscale("log"); ax.set_xlabel("step"); ax.set_ylabel("singular values of W_1, W_2, W_3")
    ax.set_title(f"d = {d}: d - 2r = {d - 2 * r} per layer on rho(t) (red)")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(cf["step"], cf["loss"], label="loss, full (d x d)")
    ax.plot(cc["step"], cc["loss"], "--", label="loss, compressed (2r x 2r)")
    ax.plot(cf["step"], cf["recovery_error"], label="recovery error, full")
    ax.plot(cc["step"], cc["recovery_error"], "--", label="recovery error, compressed")
    ax.set_yscale("log"); ax.set_xlabel("step"); ax.set_title("full and compressed trajectories")
    ax.legend(fontsize=8)
    dev = float(np.nanmax(cf["max_invariant_dev"]))
    # Rounding: each step's products move a singular value by <= c d u per layer product; over T steps
    # and L layers, relative to eps: d L T u (u = 2^-53).
    tol = d * L * steps * U64
    n_on = [int(np.sum(np.abs(np.array(sv) - rho) <= tol * 0.05)) for _, rho, svs in full.spectra for sv in svs]
    gap = float(np.max(np.abs(cf["loss"] - cc["loss"][: len(cf)]) / cf["loss"][0]))
    claims = [Claim(f"every layer keeps d - 2r = {d - 2 * r} singular values on rho(t) at every recorded step",
                    dev <= tol, f"largest deviation of the (d-2r)-th closest, over eps: {fmt(dev, 2)}, "
                    f"rounding bound d L T u = {fmt(tol, 2)}"),
              Claim("the compressed network's loss follows the full network's (difference below 1e-3 of the start)",
                    gap <= 1e-3, f"max |loss_full - loss_compressed| / loss(0) = {fmt(gap, 2)}")]
    reading = (f"Deep matrix factorization, L = 3, d = {d}, target of rank r = {r}, eps = 0.05, eta = 30, {steps} steps. "
               f"Every layer keeps d - 2r = {d - 2 * r} singular values on rho(t) (largest deviation over eps "
               f"{fmt(dev, 2)}, against a rounding bound of {fmt(tol, 2)}); learning happens in the other 2r = {2 * r}. "
               f"The compressed network (U M_3 M_2 M_1 V^T, 2r x 2r inner factors) follows the full one: final recovery "
               f"error {fmt(cc['recovery_error'][-1], 2)} compressed against {fmt(cf['recovery_error'][-1], 2)} full (the "
               f"full network also carries the rho^L part on the d - 2r directions), largest loss difference "
               f"{fmt(gap, 2)} of the starting loss; {full.timings['train_seconds']:.2f} s full against "
               f"{comp.timings['train_seconds']:.2f} s compressed.")
    s = Section("dynamics", "Deep low-rank dynamics: invariant subspaces and the compressed trajectory",
                "Compressible dynamics", ["step", "rho", "max_invariant_dev_over_eps", "loss_full", "loss_compressed",
                                          "recovery_full", "recovery_compressed"], rows[:: max(1, len(rows) // 40)],
                reading, command, png_of(fig), claims)
    s.seconds = time.perf_counter() - t0
    return s


def speed(widths: Sequence[int], steps: int, command: str, log, r: int = 5) -> Section:
    from .. import dynamics
    t0 = time.perf_counter()
    rows, ratios = [], []
    for d in widths:
        kw = dict(width=d, rank=r, eta=10.0, eps=1e-3, steps=steps, record_every=steps, seed=0, observed=0.2)
        reps = []
        for _ in range(3):
            f = dynamics.train(**kw)
            c = dynamics.train(compressed=True, gamma=0.01, **kw)
            reps.append((f.timings["train_seconds"] / steps, c.timings["train_seconds"] / steps,
                         c.timings.get("compress_seconds", 0.0)))
        tf = float(np.median([x[0] for x in reps])); tc = float(np.median([x[1] for x in reps]))
        setup = float(np.median([x[2] for x in reps]))
        ratios.append(tf / tc)
        rows.append([str(d), str(r), "3", str(steps), fmt(tf), fmt(tc), fmt(setup), fmt(tf / tc, 3)])
        log(f"  dynamics speed: d = {d}: {tf * 1e3:.2f} ms/step full, {tc * 1e3:.3f} ms/step compressed")
    fig, ax = figure(6, 3.5)
    ax.plot(list(widths), ratios, marker="o")
    ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("width d"); ax.set_ylabel("time per step, full / compressed")
    ax.set_title(f"deep matrix completion, L = 3, r = {r}, 20% observed (median of 3)")
    reading = (f"Per-step time of plain gradient descent on deep matrix completion (L = 3, r = {r}, 20% of the "
               f"entries observed, float64, OpenBLAS on this machine), median of 3 runs of {steps} steps each: "
               + ", ".join(f"d = {d}: {fmt(x, 2)}x" for d, x in zip(widths, ratios)) +
               " faster per step for the compressed network, whose inner factors are 2r x 2r whatever d is; its "
               "one-time set-up (the first gradient's SVD) is in the table. The full network's step costs O(d^3), "
               "the compressed one's O(d^2 r) for the outer factors and the observed entries.")
    claims = [Claim("the compressed network's step is faster than the full network's at every width, and more so as d grows",
                    all(x > 1 for x in ratios) and ratios == sorted(ratios), ", ".join(fmt(x, 2) for x in ratios))]
    s = Section("dynamics_speed", "Deep low-rank dynamics: speed of the compressed network", "Compressible dynamics",
                ["d", "r", "L", "steps", "full_s_per_step", "compressed_s_per_step", "compressed_setup_s", "speedup"],
                rows, reading, command, png_of(fig), claims)
    s.seconds = time.perf_counter() - t0
    return s
