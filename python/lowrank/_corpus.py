"""The corpus of hard cases (README, "The corpus"), for parametrized tests::

    import lowrank, pytest

    @pytest.mark.parametrize("case", lowrank.corpus(), ids=str)
    def test_mine(case):
        A, B = my_solver(case.W, case.X, case.rank, case.mu)
        assert case.check(A, B)

Each :class:`Case` has its inputs (``W``, ``X``, loaded on first use), its parameters and its stored
reference (``W_star``, ``A_ref``, ``B_ref``, ``reference``: objective and singular values of
``W X_mu`` as 40-digit decimals); :meth:`Case.check` judges against that reference, exactly as
``lowrank check --case DIR`` does.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Dict, Iterable, List, Optional

import numpy as np

from . import _arrays, _lowrank

try:
    from . import _build
except ImportError:
    _build = None


def corpus_dir() -> str:
    """The corpus folder: ``LOWRANK_CORPUS``, else the one shipped in the wheel, else the source
    tree's data/corpus the package was built from."""
    env = os.environ.get("LOWRANK_CORPUS")
    if env:
        return env
    if _build is not None and getattr(_build, "CORPUS", None):
        return _build.CORPUS
    shipped = os.path.join(os.path.dirname(__file__), "corpus")
    if os.path.isfile(os.path.join(shipped, "manifest.json")):
        return shipped
    return _lowrank.default_corpus_dir()


@dataclass(frozen=True)
class Case:
    """One case of the corpus. ``valid`` is False for the six invalid ones (NaN in W, Inf in X, shape
    mismatch, truncated X.npy, r > min(m, n), mu < 0), which a correct implementation must refuse."""

    name: str
    path: str
    tags: List[str]
    rank: int
    mu: float
    dtype: str
    m: int
    n: int
    N: int
    valid: bool
    hard: str = field(repr=False)
    must: str = field(repr=False)
    meta: Dict[str, Any] = field(repr=False)

    def __str__(self) -> str:
        return self.name

    @property
    def w_path(self) -> str:
        return os.path.join(self.path, "W.npy")

    @property
    def x_path(self) -> str:
        return os.path.join(self.path, "X.npy")

    @cached_property
    def W(self) -> np.ndarray:
        """m x n, in the case's dtype."""
        return np.load(self.w_path)

    @cached_property
    def X(self) -> np.ndarray:
        """N x n, one row per token, in the case's dtype (memory-mapped)."""
        return np.load(self.x_path, mmap_mode="r")

    @cached_property
    def reference(self) -> Dict[str, Any]:
        """reference.json: the 256-bit reference's objective, singular values, uniqueness, norms."""
        self._require_valid()
        with open(os.path.join(self.path, "reference.json")) as f:
            return json.load(f)

    @cached_property
    def W_star(self) -> np.ndarray:
        """The reference minimizer W'_* (float64, rounded once from MPFR)."""
        self._require_valid()
        return np.load(os.path.join(self.path, "W_star.npy"))

    @cached_property
    def A_ref(self) -> np.ndarray:
        self._require_valid()
        return np.load(os.path.join(self.path, "A_ref.npy"))

    @cached_property
    def B_ref(self) -> np.ndarray:
        self._require_valid()
        return np.load(os.path.join(self.path, "B_ref.npy"))

    def _require_valid(self):
        if not self.valid:
            raise ValueError(f"case {self.name} is invalid ({self.hard}): it has no reference")

    def check(self, A, B, threshold: float = _lowrank.ratio_threshold, *, ratio_version: int = _lowrank.ratio_version,
              achievable_samples: int = 5):
        """Judge ``W' = A B`` (``A`` m x r', ``B`` r' x n, arrays or tensors, in the precision they were
        computed in) against the stored reference: ``lowrank check --case DIR``, the same
        :class:`lowrank.Verdict` numbers. Raises ``ValueError`` for an invalid case."""
        from . import Verdict
        a = _arrays.as_matrix(A, "candidate A")
        b = _arrays.as_matrix(B, "candidate B")
        return Verdict._from(_lowrank.check_case(a, b, self.path, int(ratio_version), int(achievable_samples),
                                                 float(threshold)))

    def solve(self, method: str = "coala", backend: str = "cpu", dtype=None, **kw):
        """:func:`lowrank.solve` on this case's files (X streamed from X.npy)."""
        from . import solve
        return solve(self.W, self.x_path, self.rank, self.mu, method=method, backend=backend, dtype=dtype, **kw)


def corpus(path: Optional[str] = None, *, tags: Optional[Iterable[str]] = None, names: Optional[Iterable[str]] = None,
           include_invalid: bool = False) -> List[Case]:
    """The cases of the corpus at ``path`` (default :func:`corpus_dir`), in manifest order: the valid
    ones, plus the invalid ones with ``include_invalid``; ``tags`` keeps cases with any of those
    tags, ``names`` those named."""
    root = path or corpus_dir()
    manifest = os.path.join(root, "manifest.json")
    try:
        with open(manifest) as f:
            entries = json.load(f)["cases"]
    except OSError as e:
        raise ValueError(f"no corpus at {root}: cannot read {manifest} ({e.strerror})") from None
    want_tags = set(tags) if tags is not None else None
    want_names = set(names) if names is not None else None
    cases = []
    for e in entries:
        if not e.get("valid", True) and not include_invalid:
            continue
        if want_tags is not None and not want_tags.intersection(e.get("tags", [])):
            continue
        if want_names is not None and e["name"] not in want_names:
            continue
        cases.append(Case(name=e["name"], path=os.path.join(root, e.get("path", e["name"])), tags=list(e.get("tags", [])),
                          rank=int(e.get("rank", 0)), mu=float(e.get("mu", 0.0)), dtype=e.get("dtype", "float64"), m=int(e.get("m", 0)), n=int(e.get("n", 0)),
                          N=int(e.get("N", 0)), valid=bool(e.get("valid", True)), hard=e.get("hard", ""),
                          must=e.get("must", ""), meta=e))
    if want_names is not None:
        missing = want_names - {c.name for c in cases}
        if missing:
            raise ValueError(f"no such case(s) in {root}: {', '.join(sorted(missing))}")
    return cases
