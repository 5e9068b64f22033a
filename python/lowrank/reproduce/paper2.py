"""The second paper (Yaras et al., ICML 2024) through ``lowrank.dynamics.train`` (the C++ trainer
of ``lowrank dynamics train``): singular values of every layer over time with d - 2r of them on
rho(t), compressed against full loss curves, and the speed of the compressed network."""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from .report import UNIT_ROUNDOFF, Claim, Section, figure, fmt, png_of

U64 = UNIT_ROUNDOFF["float64"]


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


def deep_lora(X_cal: np.ndarray, X_test: np.ndarray, layer: str, samples: int, ranks: Sequence[int], steps: int,
              command: str, log, target_rank: int = 8) -> Section:
    """The second paper's limited-data claim on real activations: adapt a d x d layer to a rank-8
    update Phi from ``samples`` real tokens (its inputs X, N < d), with a compressed adapter of depth
    3 (Deep LoRA) and of depth 2 (plain LoRA), across adapter ranks r; held-out error on tokens of
    disjoint sentences. Both adapters are the trainer's compressed network (inner width 2r, started
    from the first gradient), trained by plain gradient descent from the same scale of start."""
    from .. import dynamics
    t0 = time.perf_counter()
    d = X_cal.shape[1]
    Xs = X_cal[:samples].astype(np.float64)
    Xs = Xs / np.linalg.norm(Xs, 2)  # sigma_max(X) = 1: the step size below does not depend on the layer's scale
    Xt = X_test.astype(np.float64)
    eta = 1000.0 * samples / 96.0    # stable for this scaling (c X X^T <= I / (d N)); measured 2026-12-06
    rows, held = [], {}
    floor = math.nan
    for depth in (2, 3):
        for r in ranks:
            try:
                run = dynamics.train(width=d, rank=r, depth=depth, eta=eta, steps=steps, eps=0.3, compressed=True,
                                     gamma=0.01, lora_samples=samples, lora_inputs=Xs, target_rank=target_rank,
                                     record_every=max(1, steps // 20), seed=0)
            except dynamics.Diverged as e:
                rows.append([str(depth), str(r), str(samples), str(steps), fmt(eta), "diverged", "nan", "nan", "nan"])
                held[(depth, r)] = math.nan
                log(f"  deep lora: depth {depth}, rank {r}: diverged ({e})")
                continue
            P, Phi = run.product, run.target
            if floor != floor:  # the minimum-norm fit of the samples: Phi on span(X_cal), zero off it
                Q, _ = np.linalg.qr(Xs.T)
                floor = float(np.linalg.norm(Xt @ (Phi @ Q @ Q.T - Phi).T) / np.linalg.norm(Xt @ Phi.T))
            h = float(np.linalg.norm(Xt @ (P - Phi).T) / np.linalg.norm(Xt @ Phi.T))
            held[(depth, r)] = h
            loss = run.curve["loss"]
            rows.append([str(depth), str(r), str(samples), str(steps), fmt(eta), "ok", fmt(loss[-1] / loss[0]), fmt(h),
                         fmt(floor)])
            log(f"  deep lora: depth {depth}, adapter rank {r}: train loss x{loss[-1] / loss[0]:.2e}, held-out {h:.3e}")
    fig, ax = figure(6.5, 3.8)
    for depth, label in ((2, "LoRA (depth 2)"), (3, "Deep LoRA (depth 3)")):
        ax.plot(list(ranks), [held[(depth, r)] for r in ranks], marker="o", label=label)
    ax.axhline(floor, color="#999", ls="--", lw=1, label="Phi on span(X_cal): minimum-norm fit")
    ax.axvline(target_rank, color="#ccc", lw=0.8)
    ax.set_xscale("log", base=2); ax.set_xlabel("adapter rank r"); ax.set_ylabel("held-out ||(P - Phi)X|| / ||Phi X||")
    ax.set_title(f"{layer} inputs (d = {d}), {samples} samples, true rank {target_rank}")
    ax.legend(fontsize=8)
    spread = {dp: (np.nanmax([held[(dp, r)] for r in ranks]) - np.nanmin([held[(dp, r)] for r in ranks])) for dp in (2, 3)}
    better = [r for r in ranks if held[(3, r)] <= held[(2, r)]]
    # Where the adapters end against the floor. The floor is not a lower bound: the gradient's row space is
    # span(X_cal), so W_1's component off that span keeps its random start, and the product carries it to
    # other tokens, where it can help as well as hurt.
    ends = [(held[(dp, r)] - floor, dp, r) for dp in (2, 3) for r in ranks if held[(dp, r)] == held[(dp, r)]]
    closest = min(ends) if ends else None
    if closest is None:
        vs_floor = "so neither run ended (every one diverged)"
    elif closest[0] >= 0:
        vs_floor = (f"so both stay above the floor at this step budget (closest: depth {closest[1]}, rank {closest[2]}, "
                    f"{fmt(closest[0], 1)} above it)")
    else:
        vs_floor = (f"so both end near the floor at best; depth {closest[1]} at rank {closest[2]} ends "
                    f"{fmt(-closest[0], 1)} below it (the floor is the minimum-norm fit, not a bound: W_1 keeps the "
                    f"part of its random start off the samples' span, which can help or hurt on other tokens)")
    reading = (f"A {d} x {d} layer (the inputs of all-MiniLM-L6-v2's {layer}) adapted to a rank-{target_rank} update "
               f"Phi from N = {samples} real tokens (N < d: Phi is determined only on their span), by gradient descent "
               f"({steps} steps, eta = {fmt(eta, 2)}, start scale 0.3) on a compressed adapter of depth 3 (Deep LoRA) and "
               f"of depth 2, for adapter ranks {', '.join(str(r) for r in ranks)}. Held-out error on tokens of other "
               f"sentences: depth 3 " + ", ".join(fmt(held[(3, r)], 3) for r in ranks) + "; depth 2 " +
               ", ".join(fmt(held[(2, r)], 3) for r in ranks) + f" (floor {fmt(floor, 3)}: Phi restricted to the span of "
               f"the samples). Spread over the ranks: {fmt(spread[3], 2)} (depth 3) against {fmt(spread[2], 2)} (depth 2); "
               f"depth 3 is at least as good at {len(better)} of {len(ranks)} ranks. On real activations the low-variance "
               f"directions of X are learned slowly by either adapter (gradient descent on an ill-conditioned least-squares "
               f"problem), " + vs_floor + ".")
    claims = [Claim("Deep LoRA (depth 3) is less sensitive to the adapter rank than depth 2 (smaller spread of held-out "
                    "error over the ranks)", spread[3] <= spread[2],
                    f"spread {fmt(spread[3], 2)} vs {fmt(spread[2], 2)}"),
              Claim("Deep LoRA's held-out error is at most depth 2's at every adapter rank (less overfitting with few samples)",
                    len(better) == len(ranks), f"at {len(better)} of {len(ranks)} ranks")]
    s = Section("deep_lora", "Deep LoRA against LoRA with few samples (real activations)", "Compressible dynamics",
                ["depth", "adapter_rank", "samples", "steps", "eta", "status", "train_loss_ratio", "heldout_rel_error",
                 "floor_span_X"], rows, reading, command, png_of(fig), claims)
    s.seconds = time.perf_counter() - t0
    return s
