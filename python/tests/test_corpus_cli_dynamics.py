"""lowrank.corpus(), python -m lowrank, lowrank.dynamics.train."""
import json
import subprocess
import sys

import numpy as np
import pytest

import lowrank
from conftest import save


def test_corpus_lists_the_manifest():
    manifest = json.load(open(lowrank.corpus()[0].path + "/../manifest.json"))["cases"]
    valid = lowrank.corpus()
    every = lowrank.corpus(include_invalid=True)
    assert len(every) == len(manifest) and len(valid) == sum(e["valid"] for e in manifest)
    assert all(c.valid for c in valid) and len(every) - len(valid) == 6
    cond = lowrank.corpus(tags=["ill-conditioned"])
    assert cond and all("ill-conditioned" in c.tags for c in cond)
    c = lowrank.corpus(names=["cond_1e12"])[0]
    assert c.W.shape == (c.m, c.n) and c.X.shape == (c.N, c.n) and c.W.dtype == np.float64
    assert c.W_star.shape == (c.m, c.n) and c.A_ref.shape == (c.m, c.rank)
    assert c.reference["unique"] in (True, False) and "cond_1e12" == str(c)
    with pytest.raises(ValueError, match="no such case"):
        lowrank.corpus(names=["nope"])
    with pytest.raises(ValueError, match="no corpus at"):
        lowrank.corpus("/nonexistent")


def test_case_solve_and_check():
    c = lowrank.corpus(names=["outlier_1e3_N20000_f32"])[0]
    res = c.solve(dtype="float32")
    v = c.check(res.A, res.B)
    assert v.passed, v


def test_python_m_lowrank_is_the_command(cli, tmp_path):
    p = subprocess.run([sys.executable, "-m", "lowrank", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "solve" in p.stdout and p.stdout == cli.run("--help").stdout
    c = lowrank.corpus(names=["cond_1e12"])[0]
    A, B = c.solve(method="svd-llm")
    a, b = save(tmp_path / "A.npy", A), save(tmp_path / "B.npy", B)
    p = subprocess.run([sys.executable, "-m", "lowrank", "check", "--case", c.path, "--a", a, "--b", b],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "FAIL" in p.stdout  # exit codes pass through: 1 = FAIL
    p = subprocess.run([sys.executable, "-m", "lowrank", "solve"], capture_output=True, text=True)
    assert p.returncode != 0 and "required" in p.stderr


def test_dynamics_train_matches_cli(cli, tmp_path):
    args = dict(width=12, rank=2, eta=5.0, steps=40, eps=0.05, seed=3, record_every=10)
    run = lowrank.dynamics.train(**args)
    cli.run("dynamics", "train", "-d", 12, "-r", 2, "--eta", 5.0, "--steps", 40, "--eps", 0.05, "--seed", 3,
            "--record-every", 10, "-o", tmp_path / "d", "-q", check=True)
    assert run.product.tobytes() == np.load(tmp_path / "d" / "product.npy").tobytes()
    assert run.target.tobytes() == np.load(tmp_path / "d" / "target.npy").tobytes()
    csv = np.genfromtxt(tmp_path / "d" / "curve.csv", delimiter=",", names=True)
    assert np.array_equal(run.curve["step"], csv["step"].astype(int))
    assert np.array_equal(run.curve["loss"], csv["loss"])
    assert len(run.init) == 3 and run.mask is None and run.spectra
    comp = lowrank.dynamics.train(compressed=True, gamma=0.0, **args)
    assert comp.curve["loss"][-1] < comp.curve["loss"][0]


def test_dynamics_errors():
    with pytest.raises(ValueError, match="--width"):
        lowrank.dynamics.train(width=2, rank=2, eta=1.0, steps=1)
    with pytest.raises(lowrank.Diverged):
        lowrank.dynamics.train(width=12, rank=2, eta=1e6, steps=50, eps=0.5)
    with pytest.raises(ValueError, match="backend must be"):
        lowrank.dynamics.train(width=12, rank=2, eta=1.0, steps=1, backend="tpu")


def test_stubs_and_docstrings():
    """The module's .pyi stub (nanobind_add_stub) ships next to it; the public API is documented."""
    import os
    from lowrank import _lowrank
    stub = os.path.join(os.path.dirname(_lowrank.__file__), "_lowrank.pyi")
    text = open(stub).read()
    assert "def solve(" in text and "class ArraySource(RowSource)" in text
    for f in (lowrank.solve, lowrank.check, lowrank.blocks, lowrank.corpus, lowrank.dynamics.train,
              lowrank.Verdict, lowrank.Case.check):
        assert f.__doc__ and len(f.__doc__) > 80, f
