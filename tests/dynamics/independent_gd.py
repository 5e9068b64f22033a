#!/usr/bin/env python3
"""Outside check of `lowrank dynamics train`: plain gradient descent on
    f(W_1..W_L) = c/2 ||M .* (W_L ... W_1 - Phi)||_F^2,  c = 1 / sum(M),
    W_l <- (1 - eta lambda) W_l - eta grad_l   (all layers from the same iterate),
written here from the formulas alone (NumPy, float64), started from DIR/init/W*.npy with
DIR/target.npy and DIR/mask.npy, must reproduce DIR/product.npy and the loss column of
DIR/curve.csv.

Bound: two float64 evaluations of the same T-step recursion with different summation orders
differ by the rounding accumulated over the steps; first order, no amplification
(proofs_checks/README.md, "Compressible dynamics", bound B):
    ||P_numpy - P_lowrank||_F / ||P||_F <= u d (1 + 2 L (T + 1)),  u = 2^-53.
Exit 0 on agreement, 1 on disagreement, 77 (CTest skip) when NumPy is missing.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("numpy is not installed: skipped")
    sys.exit(77)


def product(ws):
    p = ws[0]
    for w in ws[1:]:
        p = w @ p
    return p


def gradients(ws, resid):
    """grad_l = (W_L..W_{l+1})^T resid (W_{l-1}..W_1)^T, l = 1..L (0-based in the list)."""
    L = len(ws)
    d = ws[0].shape[0]
    grads = []
    for l in range(L):
        left = np.eye(d)
        for w in ws[l + 1:]:
            left = w @ left
        right = np.eye(d)
        for w in ws[:l]:
            right = w @ right
        grads.append(left.T @ resid @ right.T)
    return grads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lowrank", required=True)
    a = ap.parse_args()
    d, r, L, T, eta, lam = 12, 2, 3, 100, 2.0, 1e-3
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run")
        cmd = [a.lowrank, "dynamics", "train", "--width", str(d), "--rank", str(r), "--depth", str(L),
               "--observed", "0.6", "--eps", "0.3", "--eta", str(eta), "--weight-decay", str(lam),
               "--steps", str(T), "--record-every", "10", "--seed", "21", "--backend", "cpu", "--out", out, "-q"]
        subprocess.run(cmd, check=True)
        phi = np.load(os.path.join(out, "target.npy"))
        mask = np.load(os.path.join(out, "mask.npy"))
        ws = [np.load(os.path.join(out, "init", "W%d.npy" % (l + 1))) for l in range(L)]
        want = np.load(os.path.join(out, "product.npy"))
        run = json.load(open(os.path.join(out, "run.json")))
        rows = list(csv.DictReader(open(os.path.join(out, "curve.csv"))))
    c = 1.0 / mask.sum()
    ok = True
    if abs(run["loss_scale"] - c) > 1e-15 * c:
        print("loss_scale %r != 1/sum(mask) = %r" % (run["loss_scale"], c))
        ok = False
    losses = {}
    for t in range(T + 1):
        resid = mask * (product(ws) - phi)
        losses[t] = 0.5 * c * np.sum(resid ** 2)
        if t == T:
            break
        grads = gradients(ws, c * resid)
        ws = [(1 - eta * lam) * w - eta * g for w, g in zip(ws, grads)]
    got = product(ws)
    u = 2.0 ** -53
    bound = u * d * (1 + 2 * L * (T + 1))
    rel = np.linalg.norm(got - want) / np.linalg.norm(want)
    print("||P_numpy - P_lowrank|| / ||P|| = %.3e (bound %.3e)" % (rel, bound))
    ok = ok and rel <= bound
    for row in rows:
        t = int(row["step"])
        l_lr = float(row["loss"])
        if abs(l_lr - losses[t]) > 2 * bound * losses[t]:
            print("step %d: loss %r vs numpy %r" % (t, l_lr, losses[t]))
            ok = False
    # The run must have learned something for the comparison to mean anything.
    if not losses[T] < 0.1 * losses[0]:
        print("loss did not fall: %r -> %r" % (losses[0], losses[T]))
        ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
