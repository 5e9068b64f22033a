"""The committed slices of all-MiniLM-L6-v2's real layers (data/minilm/slices, written by
data/minilm/extract.py --slices): read by the CLI's .npy reader, solved in float32 by every method,
each compared with float64 COALA. Tolerance: the first-order forward-error bound of MATH.md
(proofs_checks/README.md), ||W'_c - W'_*||_F <= d u kappa_C ||W||_F, d = max(m, n, N),
kappa_C = ||W||_2 ||X||_2 / (s_r - s_{r+1}); u = 2^-24."""
import json
import os

import numpy as np
import pytest

import lowrank

HERE = os.path.dirname(os.path.abspath(__file__))
SLICES = os.path.join(HERE, "..", "..", "data", "minilm", "slices")
MANIFEST = json.load(open(os.path.join(SLICES, "manifest.json")))


@pytest.mark.parametrize("entry", MANIFEST["slices"], ids=lambda e: e["name"])
def test_real_slice_float32_methods_against_float64_coala(entry):
    W = os.path.join(SLICES, entry["W"])
    X = os.path.join(SLICES, entry["X"])
    m, n, N = entry["m"], entry["n"], entry["N"]
    r = min(m, n) // 4
    ref = lowrank.solve(W, X, r, method="coala", dtype="float64")
    Wref = ref.A @ ref.B
    Wn, Xn = np.load(W).astype(np.float64), np.load(X).astype(np.float64)
    kappa_c = np.linalg.norm(Wn, 2) * np.linalg.norm(Xn, 2) / ref.report.gap
    bound = max(m, n, N) * 2.0 ** -24 * kappa_c * np.linalg.norm(Wn)
    err = {}
    for method in ("coala", "limit", "svd-llm", "svd-llm-v2", "pinv"):
        A, B = lowrank.solve(W, X, r, method=method, dtype="float32")
        assert A.dtype == np.float32 and A.shape == (m, r) and B.shape == (r, n)
        err[method] = np.linalg.norm(A.astype(np.float64) @ B.astype(np.float64) - Wref)
    assert err["coala"] <= bound, (err, bound)
    assert err["limit"] <= bound, (err, bound)
    # The Gram methods' bound has kappa_G = ||W||^2 ||X||^2 / (s_r^2 - s_{r+1}^2) in place of kappa_C
    # (proofs_checks/README.md): kappa(X) of these real inputs is small enough for it to hold too.
    s = np.asarray(ref.report.singular_values)
    kappa_g = (np.linalg.norm(Wn, 2) * np.linalg.norm(Xn, 2)) ** 2 / (s[r - 1] ** 2 - s[r] ** 2)
    sx = np.linalg.svd(Xn, compute_uv=False)
    bound_g = max(m, n, N) * 2.0 ** -24 * (kappa_g + kappa_c + sx[0] / sx[-1]) * np.linalg.norm(Wn)
    for g in ("svd-llm", "svd-llm-v2", "pinv"):
        assert err[g] <= bound_g, (g, err[g], bound_g)
