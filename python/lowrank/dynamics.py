"""Deep matrix factorization / completion and Deep LoRA training (MATH.md section 2): what
``lowrank dynamics train`` runs (dynamics/run.hpp), returned as arrays instead of files.

    run = lowrank.dynamics.train(width=60, rank=3, eta=30, steps=1500, eps=0.05, seed=1)
    run.curve["loss"][-1], run.curve["recovery_error"][-1]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import _arrays, _lowrank
from ._lowrank import Diverged

__all__ = ["train", "TrainResult", "Diverged", "CURVE_FIELDS"]

CURVE_FIELDS = ("step", "loss", "recovery_error", "rho", "max_invariant_dev", "seconds")


@dataclass(frozen=True)
class TrainResult:
    """One run, as ``lowrank dynamics train`` writes it: ``target`` (Phi), ``mask`` (Omega, None under
    full observation), ``init`` (the full-width start W_1(0) ... W_L(0)), ``product`` (final
    W_L ... W_1; compressed: U M_L ... M_1 V^T), ``curve`` (curve.csv as a structured array with
    fields CURVE_FIELDS; ``max_invariant_dev`` NaN where not computed), ``spectra`` (full runs:
    (step, rho, [singular values of each layer]) at the recorded steps), ``timings``,
    ``loss_scale`` (c = 1/|Omega|) and ``precision``. Deep LoRA runs also have ``lora_w0``, ``lora_x``."""

    target: np.ndarray = field(repr=False)
    mask: Optional[np.ndarray] = field(repr=False)
    init: List[np.ndarray] = field(repr=False)
    product: np.ndarray = field(repr=False)
    curve: np.ndarray = field(repr=False)
    spectra: List[Tuple[int, float, List[np.ndarray]]] = field(repr=False)
    timings: Dict[str, Any]
    loss_scale: float
    precision: str
    lora_w0: Optional[np.ndarray] = field(default=None, repr=False)
    lora_x: Optional[np.ndarray] = field(default=None, repr=False)


def train(*, width: int, rank: int, eta: float, steps: int, depth: int = 3, observed: float = 1.0,
          eps: float = 1e-3, weight_decay: float = 0.0, gamma: float = 0.01, seed: int = 0, compressed: bool = False,
          backend: str = "cpu", dtype: str = "float64", bits: int = 256, record_every: int = 10,
          stop_at: float = 0.0, invariant: bool = True, lora_samples: int = 0,
          lora_whitened: bool = False, target_rank: int = 0, lora_inputs=None) -> TrainResult:
    """Train by plain gradient descent (README, "Deep low-rank dynamics"; parameters as the command's
    options). Raises ``ValueError`` for parameters out of range (the command's message) and
    :class:`Diverged` when the loss becomes NaN/Inf or exceeds 1e6 times its start. The GIL is
    released while training."""
    if backend not in ("reference", "cpu", "cuda"):
        raise ValueError(f"backend must be reference, cpu or cuda, got {backend!r}")
    if backend == "reference" and not 64 <= bits <= 4096:
        raise ValueError(f"bits must be between 64 and 4096, got {bits}")
    cfg = dict(width=width, rank=rank, eta=eta, steps=steps, depth=depth, observed=observed, eps=eps,
               weight_decay=weight_decay, gamma=gamma, seed=seed, compressed=compressed, backend=backend,
               dtype=dtype, bits=bits, record_every=record_every, stop_at=stop_at, invariant=invariant,
               lora_samples=lora_samples, lora_whitened=lora_whitened, target_rank=target_rank,
               lora_inputs=None if lora_inputs is None else _arrays.as_matrix(lora_inputs, "lora_inputs"))
    d = _lowrank.train(cfg)
    raw = d["curve"]
    curve = np.zeros(raw.shape[0], dtype=[(f, np.int64 if f == "step" else np.float64) for f in CURVE_FIELDS])
    for i, f in enumerate(CURVE_FIELDS):
        curve[f] = raw[:, i]
    return TrainResult(target=d["target"], mask=d["mask"], init=list(d["init"]), product=d["product"], curve=curve,
                       spectra=[(int(s), float(r), list(l)) for s, r, l in d["spectra"]], timings=dict(d["timings"]),
                       loss_scale=d["loss_scale"], precision=d["precision"], lora_w0=d["lora_w0"],
                       lora_x=d["lora_x"])
