"""Shared command-line wrapper of the NumPy examples (the protocol of `lowrank corpus --run`):

    python3 SOLVER.py W.npy X.npy RANK MU OUTDIR [--float32] [--ignore-mu]
        ->  OUTDIR/A.npy (m x r), OUTDIR/B.npy (r x n)

W is m x n (out x in, nn.Linear.weight); X is N x n, one row per token. Invalid inputs are refused
(exit 2, no output written). The computation runs in the inputs' precision (float32 or float64),
or in float32 with --float32 (as most PyTorch code does). --ignore-mu solves the mu = 0 problem
whatever MU says, as SVD-LLM's published code does (it has no regularization).
"""
import os
import sys

import numpy as np


def run(solver):
    flags = [a for a in sys.argv[6:]]
    unknown = [f for f in flags if f not in ("--float32", "--ignore-mu")]
    if len(sys.argv) < 6 or unknown:
        sys.exit(f"usage: {sys.argv[0]} W.npy X.npy RANK MU OUTDIR [--float32] [--ignore-mu]"
                 + (f" (unknown: {' '.join(unknown)})" if unknown else ""))
    try:
        W, X = np.load(sys.argv[1]), np.load(sys.argv[2])
    except Exception as e:  # truncated or malformed file
        print(f"error: cannot load input: {e}", file=sys.stderr)
        sys.exit(2)
    r, mu, out = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    problems = []
    if W.ndim != 2 or X.ndim != 2 or X.shape[1] != W.shape[1]:
        problems.append(f"shape mismatch: W {W.shape}, X {X.shape} (need X N x n with n = W.shape[1])")
    elif not (0 <= r <= min(W.shape)):
        problems.append(f"rank {r} outside 0..min(m, n) = {min(W.shape)}")
    if not (np.isfinite(W).all() and np.isfinite(X).all()):
        problems.append("NaN or Inf in the input")
    if not mu >= 0:
        problems.append(f"mu = {mu} < 0")
    if problems:
        print("error: " + "; ".join(problems), file=sys.stderr)
        sys.exit(2)
    dtype = np.float32 if "--float32" in flags else np.result_type(W.dtype, X.dtype)
    if "--ignore-mu" in flags:
        mu = 0.0
    A, B = solver(W.astype(dtype), X.astype(dtype), r, mu)
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "A.npy"), A)
    np.save(os.path.join(out, "B.npy"), B)
