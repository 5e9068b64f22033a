"""lowrank: context-aware low-rank approximation, min ||(W - W')X||_F with rank(W') <= r, checked
against an arbitrary-precision reference. The same C++ driver, backends and checker as the
``lowrank`` command (``python -m lowrank`` runs it), on NumPy arrays, objects with ``__array__``
and DLPack tensors (PyTorch).

Check your implementation from a test, in three lines::

    import lowrank

    def test_my_coala(W, X):                      # W: m x n (nn.Linear.weight), X: N x n tokens
        A, B = my_coala(W, X, rank=8)
        assert lowrank.check(A, B, W, X, rank=8)  # a Verdict: true on PASS, prints its table

Conventions (README.md, "Files and conventions"): ``W`` is m x n (out x in), ``X`` is N x n,
one row per token, ``W' = A B`` with ``A`` m x r and ``B`` r x n. Inputs are float32 or float64;
float16/bfloat16 are widened exactly, integers are refused. ``X`` may also be a path to an
``.npy`` file (streamed block by block), or blocks from an iterator (:func:`blocks`), so
calibration data larger than memory works. Refused input raises ``ValueError`` with the message
the command line prints; a FAIL is a result (:class:`Verdict`), never an exception.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Union

import numpy as np

from . import _arrays, _lowrank
from ._lowrank import Diverged, RowSource

__all__ = ["solve", "check", "blocks", "corpus", "Case", "SolveResult", "Report", "Verdict", "Reference",
           "SolveFailed", "Diverged", "RowSource", "dynamics", "backends", "executable", "methods"]

RATIO_THRESHOLD: float = _lowrank.ratio_threshold
RATIO_VERSION: int = _lowrank.ratio_version


class SolveFailed(RuntimeError):
    """The method broke down (a Gram formula whose Cholesky failed twice, factors with Inf): what
    ``lowrank solve`` reports with ``"status": "failed"`` and a nonzero exit. ``.report`` holds it."""

    def __init__(self, message: str, report: "Report"):
        super().__init__(message)
        self.report = report


def backends() -> List[str]:
    """Backends of this build: ``reference`` (MPFR), ``cpu`` (LAPACK/OpenBLAS), ``cuda`` when built."""
    return list(_lowrank.backends())


def methods() -> List[str]:
    """Methods of :func:`solve`: coala, limit, svd-llm, svd-llm-v2, pinv, damped (README, ``lowrank solve``)."""
    return list(_lowrank.method_names())


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Report:
    """What ``lowrank solve`` writes to report.json, field by field (``json`` holds all of it,
    with the same numbers; ``inputs`` names the arrays instead of files)."""

    method: str
    backend: str
    precision: str
    m: int
    n: int
    N: int
    rank: int
    mu: float
    status: str
    failure: Optional[str]
    objective: float                 # ||(W - AB) X||_F
    objective_decimal: str
    objective_mu: float              # sqrt(||(W - AB)X||^2 + mu ||W - AB||^2)
    eckart_young_tail: float
    singular_values: List[float]     # of W R^T (W R_mu^T; W S for the Gram methods)
    gap: float                       # s_r - s_{r+1}
    unique: bool
    uniqueness_tol: float
    x_rank: int
    x_rank_tol: float
    x_singular_values: List[float]
    wx_rank: Optional[int]           # limit: rank(W X)
    wx_rank_tol: Optional[float]
    notes: List[str]
    seconds: Dict[str, float]
    extra: Dict[str, float]
    peak_rss_bytes: int
    json: Dict[str, Any] = field(repr=False)

    @classmethod
    def _from_json(cls, j: Dict[str, Any]) -> "Report":
        s = j["shape"]
        return cls(method=j["method"], backend=j["backend"], precision=j["precision"], m=s["m"], n=s["n"],
                   N=s["N"], rank=j["rank"], mu=j["mu"], status=j["status"], failure=j.get("failure"),
                   objective=j["objective"], objective_decimal=j["objective_decimal"], objective_mu=j["objective_mu"],
                   eckart_young_tail=j["eckart_young_tail"], singular_values=j["singular_values"], gap=j["gap"],
                   unique=j["unique"], uniqueness_tol=j["uniqueness_tol"], x_rank=j["x_rank"],
                   x_rank_tol=j["x_rank_tol"], x_singular_values=j["x_singular_values"],
                   wx_rank=j.get("wx_rank"), wx_rank_tol=j.get("wx_rank_tol"), notes=j["notes"],
                   seconds=j["seconds"], extra=j["extra"], peak_rss_bytes=j["peak_rss_bytes"], json=j)


@dataclass(frozen=True)
class SolveResult:
    """Factors ``A`` (m x r) and ``B`` (r x n), ``W' = A B``, in the working precision (float64
    for the reference), and the report. Unpacks as ``A, B = lowrank.solve(...)``."""

    A: np.ndarray
    B: np.ndarray
    report: Report

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.A
        yield self.B


@dataclass(frozen=True)
class Reference:
    """The reference answer a verdict was judged against (MPFR, ``bits`` bits; stored with a corpus
    case or computed on the fly): the optimum ``f_*``, the singular values of ``W X_mu``, whether
    the minimizer is unique, and ``W_star`` = ``W'_*`` rounded once to float64."""

    m: int
    n: int
    N: int
    rank: int
    mu: float
    objective: float
    objective_decimal: str
    singular_values: List[float]
    gap: float
    unique: bool
    norm_w_2: float
    norm_w_fro: float
    norm_x_2: float
    x_min: float
    kappa_structured: float
    bits: int
    W_star: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Verdict:
    """The verdict of ``lowrank check`` (ratios of MATH.md 1.4; README, "Checking your
    implementation"). True only on PASS; ``str()`` is the table the command prints; ``json`` is
    what ``lowrank check --json`` prints, with the same numbers.

    ``verdict`` is ``"PASS"``, ``"FAIL"`` (rigorous: wrong shape or rank, NaN/Inf, or a ratio above
    ``threshold``) or ``"SUSPECT"`` (statistical: passes, but more than 100x less accurate than a
    stable method at the candidate's precision on this instance); ``reasons`` says why."""

    verdict: str
    reasons: List[str]
    objective_ratio: Optional[float]
    forward_ratio: Optional[float]
    forward_judged: bool
    forward_note: str
    achievable_ratio: Optional[float]
    threshold: float
    ratio_version: int
    dtype: str                       # the candidate's precision (its unit roundoff is `u`)
    u: float
    reference: Reference = field(repr=False)
    json: Dict[str, Any] = field(repr=False)
    text: str = field(repr=False)

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.text

    @classmethod
    def _from(cls, out) -> "Verdict":
        js, text, ref = out
        j = json.loads(js)
        obj = j.get("objective", {})
        fwd = j.get("forward", {})
        ach = j.get("achievable", {})
        return cls(verdict=j["verdict"], reasons=j["reasons"], objective_ratio=obj.get("ratio"),
                   forward_ratio=fwd.get("ratio") if fwd.get("judged") else None,
                   forward_judged=bool(fwd.get("judged", False)), forward_note=fwd.get("note", ""),
                   achievable_ratio=ach.get("ratio"), threshold=j["threshold"], ratio_version=j["ratio_version"],
                   dtype=j["candidate"]["dtype"], u=j["candidate"]["u"], reference=Reference(**ref), json=j,
                   text=text)


# ---------------------------------------------------------------------------------------------
# Inputs


def _is_array_like(x) -> bool:
    return (isinstance(x, np.ndarray) or hasattr(x, "__array__") or hasattr(x, "__dlpack__")
            or hasattr(x, "__array_interface__"))


def _dtype_name(b) -> str:
    return str(b.dtype).replace("torch.", "")


def blocks(source: Union[Callable[[], Iterable[Any]], Iterable[Any], Iterator[Any]], rows: Optional[int] = None,
           cols: Optional[int] = None, dtype: Optional[str] = None, name: str = "blocks") -> RowSource:
    """Activations X (N x n) as a stream of token blocks, each ``k_i x n`` (any ``k_i``, the same
    dtype throughout; arrays or tensors as everywhere else). The solver reads them in blocks of
    ``block`` rows whatever sizes they come in, so the answer is the one for the stacked array, bit
    for bit, and only one block is in memory at a time (C++ calls back into Python for the next one,
    with the GIL re-acquired).

    ``source`` is a function returning a new iterator, a re-iterable (a list, a DataLoader), or a
    one-shot iterator (a generator object). Solving and checking may read X more than once
    (``check`` does: reference, candidate, stable solves), which a one-shot iterator cannot do; it
    also needs ``rows``. Without ``rows``/``cols``/``dtype``, a first pass counts them."""
    one_shot = None
    factory = None
    if hasattr(source, "__next__"):
        one_shot = source
    elif callable(source) and not _is_array_like(source):
        factory = lambda: iter(source())  # noqa: E731
    else:
        factory = lambda: iter(source)  # noqa: E731

    def normalized(it):
        for i, b in enumerate(it):
            yield _arrays.as_matrix(b, f"{name}: block {i}")

    if one_shot is not None:
        if rows is None:
            raise ValueError(f"{name}: a one-shot iterator cannot be counted before it is read; give rows= "
                             f"(the number of tokens N), or pass a function that returns a new iterator")
        it = iter(one_shot)
        if cols is None or dtype is None:
            try:
                first = next(it)
            except StopIteration:
                raise ValueError(f"{name}: the iterator yielded no block") from None
            first = _arrays.as_matrix(first, f"{name}: block 0")
            cols = first.shape[1] if cols is None and len(first.shape) == 2 else cols
            dtype = _dtype_name(first) if dtype is None else dtype

            def chained(first=first, it=it):
                yield first
                yield from it
            it = chained()
        return _lowrank.IterSource(None, normalized(it), int(rows), int(cols if cols is not None else -1),
                                   str(dtype), name)
    if rows is None or cols is None or dtype is None:
        n_rows, n_cols, dt = 0, None, None
        for i, b in enumerate(normalized(factory())):
            shape = tuple(b.shape)
            if len(shape) != 2:
                raise ValueError(f"{name}: block {i} is {len(shape)}-D; blocks are 2-D, tokens x n")
            n_rows += shape[0]
            n_cols = shape[1] if n_cols is None else n_cols
            dt = _dtype_name(b) if dt is None else dt
        if n_cols is None:
            raise ValueError(f"{name}: the iterator yielded no block")
        rows = n_rows if rows is None else rows
        cols = n_cols if cols is None else cols
        dtype = dt if dtype is None else dtype
    return _lowrank.IterSource(lambda: normalized(factory()), None, int(rows), int(cols), str(dtype), name)


def _source(X, what: str = "activations X") -> RowSource:
    if isinstance(X, RowSource):
        return X
    if isinstance(X, (str, os.PathLike)):
        return _lowrank.NpySource(os.fspath(X), what)
    if not _is_array_like(X):
        if hasattr(X, "__next__") or callable(X):
            return blocks(X)
        if isinstance(X, (list, tuple)) and X and all(getattr(b, "ndim", None) == 2 for b in X):
            return blocks(X)
    return _lowrank.ArraySource(_arrays.as_matrix(X, what), "array")


def _matrix(x, what: str):
    """A whole matrix argument: an array, or a path to an .npy file read by the CLI's reader."""
    if isinstance(x, (str, os.PathLike)):
        return _lowrank.read_matrix(os.fspath(x), what)
    return _arrays.as_matrix(x, what)


def _dtype_arg(dtype) -> str:
    name = dtype if isinstance(dtype, str) else str(getattr(dtype, "__name__", dtype))
    name = name.replace("torch.", "").replace("numpy.", "")
    try:
        name = np.dtype(name).name
    except TypeError:
        pass
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return name


# ---------------------------------------------------------------------------------------------
# Solve and check


def solve(W, X, rank: int, mu: float = 0.0, method: str = "coala", backend: str = "cpu", dtype=None, *,
          bits: int = 256, block: int = 4096, rank_rtol: float = 0.0, svd: str = "gesvd",
          quiet: bool = True) -> SolveResult:
    """Solve ``min ||(W - W')X||_F^2 + mu ||W - W'||_F^2`` over ``rank(W') <= rank`` with ``method``
    (coala | limit | svd-llm | svd-llm-v2 | pinv | damped) on ``backend`` (cpu | reference | cuda):
    ``lowrank solve`` without the files; the same factors, bit for bit, and the same report.

    ``W``: m x n, an array or an ``.npy`` path. ``X``: N x n (one row per token) as an array, a path to an ``.npy`` file, or
    :func:`blocks`. ``dtype``: working precision of cpu/cuda (float32 | float64, default
    float64); the reference computes in MPFR at ``bits``. ``block``: tokens per streamed block.
    Raises ``ValueError`` on refused input and :class:`SolveFailed` when the method breaks down."""
    if backend == "reference":
        if dtype is not None:
            raise ValueError(f"dtype={dtype!r} sets the working precision of backend 'cpu' or 'cuda'; backend "
                             f"'reference' computes in MPFR at bits= (drop dtype, or choose backend='cpu')")
        if not 64 <= bits <= 4096:
            raise ValueError(f"bits must be between 64 and 4096, got {bits}")
    if svd != "gesvd" and backend != "cuda":
        raise ValueError(f"svd={svd!r} selects the cuda backend's SVD driver; it has no effect with backend={backend!r}")
    dt = "float64" if dtype is None else _dtype_arg(dtype)
    w = _matrix(W, "weights W")
    x = _source(X)
    A, B, report = _lowrank.solve(w, x, int(rank), float(mu), method, backend, dt, int(bits), int(block),
                                  float(rank_rtol), svd, bool(quiet))
    rep = Report._from_json(json.loads(report))
    if A is None:
        raise SolveFailed(rep.failure, rep)
    return SolveResult(A, B, rep)


def check(A, B, W, X, rank: int, mu: float = 0.0, threshold: float = RATIO_THRESHOLD, *, bits: int = 256,
          ratio_version: int = RATIO_VERSION, achievable_samples: int = 5) -> Verdict:
    """Judge a candidate ``W' = A B`` (``A`` m x r', ``B`` r' x n) for the problem (``W``, ``X``,
    ``rank``, ``mu``) against the reference computed on the fly in MPFR at ``bits`` bits:
    ``lowrank check --weights --acts``. The candidate's precision is that of ``A`` and ``B`` (the
    coarser); keep float32 factors float32.

    Returns a :class:`Verdict` (PASS, FAIL or SUSPECT, the ratios, the reference answer). A bad
    candidate (wrong shape, rank above r, NaN) is a FAIL, not an exception; bad ``W``, ``X``,
    ``rank``, ``mu`` or options raise ``ValueError``. For a corpus case, :meth:`Case.check` judges
    against the stored reference instead."""
    a = _arrays.as_matrix(A, "candidate A")
    b = _arrays.as_matrix(B, "candidate B")
    w = _matrix(W, "weights W")
    return Verdict._from(_lowrank.check(a, b, w, _source(X), int(rank), float(mu), int(bits), int(ratio_version),
                                        int(achievable_samples), float(threshold)))


from ._corpus import Case, corpus  # noqa: E402
from . import dynamics  # noqa: E402
from ._cli import executable  # noqa: E402
