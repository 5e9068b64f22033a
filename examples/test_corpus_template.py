"""A corpus-parametrized test file to copy into your project: replace `my_solver` with your
implementation (W: m x n, X: N x n tokens, rank r, regularization mu -> A m x r, B r x n).

Run:  python -m pytest -v test_corpus_template.py

`lowrank.corpus(include_invalid=True)` adds the six invalid cases (NaN in W, Inf in X, shape
mismatch, truncated X.npy, r > min(m, n), mu < 0), which your code should refuse.
"""
import numpy as np
import pytest

import lowrank

from coala import coala as my_solver  # examples/coala.py (NumPy COALA); replace with yours


@pytest.mark.parametrize("case", lowrank.corpus(), ids=str)
def test_valid_case(case):
    A, B = my_solver(case.W, np.asarray(case.X), case.rank, case.mu)
    verdict = case.check(A, B)          # against the stored 256-bit reference
    assert verdict, verdict             # on failure pytest prints the table of ratios and reasons
