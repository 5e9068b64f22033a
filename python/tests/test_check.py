"""lowrank.check and Case.check give the verdicts of `lowrank check --json`, number for number,
on every case of the corpus; a FAIL is a result, refused input a ValueError with the CLI's message."""
import json

import numpy as np
import pytest

import lowrank
from conftest import save

VALID = lowrank.corpus()
INVALID = [c for c in lowrank.corpus(include_invalid=True) if not c.valid]


def candidates(case):
    """Two candidates per case, from this package's own solver: SVD-LLM in the case's precision
    (fails wherever the Gram matrix is hopeless) and COALA in float32 (passes, or SUSPECT where
    float32 cannot resolve the case)."""
    out = {}
    for label, method, dtype in (("svd-llm", "svd-llm", case.dtype), ("coala-f32", "coala", "float32")):
        try:
            res = lowrank.solve(case.W, case.x_path, case.rank, case.mu, method=method, dtype=dtype)
            out[label] = (res.A, res.B)
        except (lowrank.SolveFailed, ValueError):  # e.g. float32 X^T X overflows: eigh refuses the Inf
            pass
    return out


def comparable(j):
    return {k: v for k, v in j.items() if k not in ("case", "candidate")}, j["candidate"]["dtype"]


@pytest.mark.parametrize("case", VALID, ids=str)
def test_case_verdicts_match_cli(cli, tmp_path, case):
    cands = candidates(case)
    assert cands, "no candidate could be computed"
    for label, (A, B) in cands.items():
        a, b = save(tmp_path / f"{label}_A.npy", A), save(tmp_path / f"{label}_B.npy", B)
        j, rc = cli.check_json("--case", case.path, "--a", a, "--b", b)
        v = lowrank.corpus(names=[case.name])[0].check(A, B)
        assert comparable(v.json) == comparable(j), label
        assert rc == {"PASS": 0, "FAIL": 1, "SUSPECT": 5}[v.verdict]
        assert bool(v) == (v.verdict == "PASS") == v.passed
        assert v.reference.unique == case.reference["unique"]
        assert np.array_equal(v.reference.W_star, case.W_star)


def test_verdicts_cover_pass_fail_suspect():
    """The corpus parity above is not vacuous: all three verdicts occur."""
    seen = set()
    for name in ("cond_1e00", "cond_1e12", "llm_like_64"):
        case = lowrank.corpus(names=[name])[0]
        for A, B in candidates(case).values():
            seen.add(case.check(A, B).verdict)
    assert {"PASS", "FAIL"} <= seen


def test_suspect_is_reported():
    """A float32 candidate that passes the worst-case bound but is far less accurate than float32
    COALA on the instance: an SVD-LLM that ignores mu on a regularized case."""
    case = lowrank.corpus(names=["cond_1e12_mu_1e-10"])[0]
    A, B = lowrank.solve(case.W, case.X, case.rank, 0.0, method="svd-llm", dtype="float32")
    v = case.check(A, B)
    assert v.verdict in ("SUSPECT", "FAIL")
    assert not v and v.reasons


@pytest.mark.parametrize("name", ["well_conditioned_16", "rankdef_exact_k6_r8", "cond_1e08_mu_1e-06", "well_conditioned_f32"])
def test_on_the_fly_reference_matches_cli(cli, tmp_path, name):
    case = lowrank.corpus(names=[name])[0]
    res = lowrank.solve(case.W, case.X, case.rank, case.mu, method="svd-llm", dtype=case.dtype)
    a, b = save(tmp_path / "A.npy", res.A), save(tmp_path / "B.npy", res.B)
    j, rc = cli.check_json("-W", case.w_path, "-X", case.x_path, "-r", case.rank, "--mu", repr(case.mu),
                           "--a", a, "--b", b)
    for X in (case.X, case.x_path):
        v = lowrank.check(res.A, res.B, case.W, X, case.rank, case.mu)
        assert comparable(v.json) == comparable(j)
    # the reference computed on the fly is the stored one (same MPFR code, same bits)
    assert v.reference.objective_decimal[:15] == case.reference["objective"][:15]


def test_fail_is_a_result_not_an_exception():
    case = lowrank.corpus(names=["well_conditioned_16"])[0]
    A, B = case.A_ref, case.B_ref
    checks = {
        "wrong shape": (A[:-1], B),
        "rank above r": (np.hstack([A, A[:, :1]]), np.vstack([B, B[:1]])),
        "NaN": (np.where(np.arange(A.size).reshape(A.shape) == 3, np.nan, A), B),
        "1-D": (A.ravel(), B),
        "integers": (A.astype(np.int64), B),
        "perturbed": (A * (1 + 1e-9), B),
    }
    for label, (a, b) in checks.items():
        v = case.check(a, b)
        assert v.verdict == "FAIL" and v.reasons, label
        assert "FAIL" in str(v)
    assert case.check(A, B), case.check(A, B)


def test_threshold_option(cli, tmp_path):
    case = lowrank.corpus(names=["llm_like_64"])[0]
    A, B = lowrank.solve(case.W, case.X, case.rank, method="svd-llm")
    v = case.check(A, B)
    assert v.passed and v.forward_ratio > 0
    tight = case.check(A, B, threshold=v.forward_ratio / 2)
    assert tight.verdict == "FAIL" and tight.threshold == v.forward_ratio / 2
    assert "forward ratio" in tight.reasons[0]
    loose = lowrank.check(A, B, case.W, case.X, case.rank, threshold=1e30)
    assert loose.threshold == 1e30
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="threshold must be a finite number > 0"):
            case.check(A, B, threshold=bad)


@pytest.mark.parametrize("case", INVALID, ids=str)
def test_invalid_cases_refused_like_cli(cli, tmp_path, case):
    a = save(tmp_path / "A.npy", np.zeros((2, 1)))
    b = save(tmp_path / "B.npy", np.zeros((1, 2)))
    message = cli.error("check", "--case", case.path, "--a", a, "--b", b)
    with pytest.raises(ValueError) as e:
        case.check(np.zeros((2, 1)), np.zeros((1, 2)))
    assert str(e.value) == message
    # and the solver refuses its inputs, with the solve command's message
    message = cli.error("solve", "-W", case.w_path, "-X", case.x_path, "-r", case.rank, "--mu", repr(case.mu),
                        "--backend", "cpu", "-o", tmp_path / "out", "-q")
    with pytest.raises(ValueError) as e:
        lowrank.solve(case.w_path, case.x_path, case.rank, case.mu)
    assert str(e.value) == message


def test_options_refused():
    case = lowrank.corpus(names=["well_conditioned_16"])[0]
    with pytest.raises(ValueError, match="--ratio-version must be 1 or 2"):
        case.check(case.A_ref, case.B_ref, ratio_version=3)
    with pytest.raises(ValueError, match="--achievable-samples must be >= 0"):
        case.check(case.A_ref, case.B_ref, achievable_samples=-1)
    v1 = case.check(case.A_ref, case.B_ref, ratio_version=1)
    assert v1.ratio_version == 1 and "achievable" not in v1.json
