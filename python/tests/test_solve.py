"""lowrank.solve gives what `lowrank solve` gives: the same factor bytes and the same report
numbers, whatever form X comes in (array, .npy path, memory map, blocks of any size)."""
import json

import numpy as np
import pytest

import lowrank

CASES = {c.name: c for c in lowrank.corpus()}

# (case, method, backend, dtype): every backend of this build that runs here, every method family.
SOLVES = [
    ("llm_like_64", "coala", "cpu", "float64"),
    ("llm_like_64", "coala", "cpu", "float32"),
    ("cond_1e12", "svd-llm", "cpu", "float64"),
    ("cond_1e08_mu_1e-06", "coala", "cpu", "float64"),
    ("rankdef_exact_k6_r8", "limit", "cpu", "float64"),
    ("well_conditioned_f32", "damped", "cpu", "float32"),
    ("few_tokens_N20_n32", "pinv", "cpu", "float64"),
    ("outliers_1e3", "svd-llm-v2", "cpu", "float32"),
    ("well_conditioned_16", "coala", "reference", None),
]

VOLATILE = ("seconds", "peak_rss_bytes", "inputs")


def stable(report):
    """report.json without what depends on the clock or the process."""
    j = {k: v for k, v in report.items() if k not in VOLATILE}
    j["extra"] = {k: v for k, v in j.get("extra", {}).items() if not k.startswith(("gflops_", "seconds_"))}
    return j


def cli_solve(cli, tmp_path, case, method, backend, dtype, block=4096):
    out = tmp_path / "cli"
    args = ["solve", "-W", case.w_path, "-X", case.x_path, "-r", case.rank, "--mu", repr(case.mu), "--method", method,
            "--backend", backend, "--block", block, "-o", out, "-q"]
    if dtype:
        args += ["--dtype", dtype]
    cli.run(*args, check=True)
    return np.load(out / "A.npy"), np.load(out / "B.npy"), json.loads((out / "report.json").read_text())


def assert_same(res, A, B, report):
    assert res.A.dtype == A.dtype and res.B.dtype == B.dtype
    assert res.A.tobytes() == A.tobytes() and res.B.tobytes() == B.tobytes()
    assert stable(res.report.json) == stable(report)


@pytest.mark.parametrize("name,method,backend,dtype", SOLVES, ids=["-".join(map(str, s)) for s in SOLVES])
def test_same_bytes_as_cli(cli, tmp_path, name, method, backend, dtype):
    case = CASES[name]
    A, B, report = cli_solve(cli, tmp_path, case, method, backend, dtype)
    res = lowrank.solve(case.W, case.X, case.rank, case.mu, method=method, backend=backend, dtype=dtype)
    assert_same(res, A, B, report)
    assert res.report.method == method and res.report.rank == case.rank
    assert res.A.shape == (case.m, case.rank) and res.B.shape == (case.rank, case.n)


def irregular_blocks(X, sizes=(1, 7, 3, 16, 2)):
    def gen():
        i, k = 0, 0
        while i < X.shape[0]:
            s = sizes[k % len(sizes)]
            yield X[i:i + s]
            i, k = i + s, k + 1
    return gen


def test_every_form_of_x_same_bytes(cli, tmp_path):
    """Array, F-order copy, path, memory map, blocks of irregular sizes, one-shot iterator: the
    solver's blocks are `block` rows whatever the input's, so the bytes are the CLI's."""
    case = CASES["llm_like_64"]
    A, B, report = cli_solve(cli, tmp_path, case, "coala", "cpu", "float64", block=10)
    X = np.load(case.x_path)
    forms = {
        "array": X,
        "fortran": np.asfortranarray(X),
        "path": case.x_path,
        "mmap": np.load(case.x_path, mmap_mode="r"),
        "blocks-fn": lowrank.blocks(irregular_blocks(X)),
        "blocks-list": [X[:50], X[50:51], X[51:]],
        "generator": lowrank.blocks(irregular_blocks(X)(), rows=X.shape[0]),
    }
    for form, x in forms.items():
        res = lowrank.solve(case.W, x, case.rank, case.mu, block=10)
        assert res.A.tobytes() == A.tobytes(), form
        assert stable(res.report.json) == stable(report), form


def test_reference_precision_and_dtype_rules():
    case = CASES["well_conditioned_16"]
    res = lowrank.solve(case.W, case.X, case.rank, backend="reference", bits=128)
    assert res.report.precision.endswith("128") and res.A.dtype == np.float64
    with pytest.raises(ValueError, match="dtype='float32' sets the working precision"):
        lowrank.solve(case.W, case.X, case.rank, backend="reference", dtype="float32")
    with pytest.raises(ValueError, match="bits must be between 64 and 4096"):
        lowrank.solve(case.W, case.X, case.rank, backend="reference", bits=32)
    f32 = lowrank.solve(case.W, case.X, case.rank, dtype=np.float32)
    assert f32.A.dtype == np.float32 and f32.report.precision == "float32"
    A, B = f32  # unpacks as the factors
    assert A is f32.A and B is f32.B


def test_breakdown_is_solve_failed(cli, tmp_path):
    """A method that breaks down: the CLI exits nonzero with status failed; Python raises
    SolveFailed carrying the same report."""
    case = CASES["f32_underflow_1e-21"]
    out = tmp_path / "o"
    p = cli.run("solve", "-W", case.w_path, "-X", case.x_path, "-r", case.rank, "--method", "svd-llm-v2",
                "--backend", "cpu", "--dtype", "float32", "-o", out, "-q")
    cli_report = json.loads((out / "report.json").read_text())
    assert p.returncode != 0 and cli_report["status"] == "failed"
    assert not (out / "A.npy").exists()
    with pytest.raises(lowrank.SolveFailed) as e:
        lowrank.solve(case.W, case.x_path, case.rank, method="svd-llm-v2", dtype="float32")
    assert e.value.report.status == "failed"
    assert e.value.report.failure == cli_report["failure"]
    assert stable(e.value.report.json) == stable(cli_report)


def test_cuda_backend(cli, tmp_path):
    """With a device: the CLI's bytes. Without: the CLI's refusal, as ValueError."""
    if "cuda" not in lowrank.backends():
        pytest.skip("this build has no cuda backend")
    case = CASES["well_conditioned_16"]
    out = tmp_path / "o"
    p = cli.run("solve", "-W", case.w_path, "-X", case.x_path, "-r", case.rank, "--backend", "cuda", "-o", out, "-q")
    if p.returncode != 0:
        message = p.stderr.strip().splitlines()[-1].replace("lowrank: error: ", "")
        assert "no CUDA device" in message
        with pytest.raises(ValueError) as e:
            lowrank.solve(case.W, case.x_path, case.rank, backend="cuda")
        assert str(e.value) == message
        return
    res = lowrank.solve(case.W, case.x_path, case.rank, backend="cuda")
    assert res.A.tobytes() == np.load(out / "A.npy").tobytes()
