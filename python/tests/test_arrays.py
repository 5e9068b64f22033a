"""What the package takes as an array: zero-copy for float32/float64 host memory in any layout
(X is read in place, block by block), exact widening of float16/bfloat16, refusals with messages,
PyTorch tensors on the CPU through DLPack; CUDA tensors skip without a device."""
import threading
import time

import numpy as np
import pytest

import lowrank
from lowrank import _arrays, _lowrank

CASE = lowrank.corpus(names=["llm_like_64"])[0]
W = np.ascontiguousarray(CASE.W)
X = np.ascontiguousarray(CASE.X)
R = CASE.rank

try:
    import torch
except ImportError:  # python3-torch (Debian) is installed by scripts/setup.sh; skip cleanly without it
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def baseline():
    return lowrank.solve(W, X, R)


def address(a):
    return a.__array_interface__["data"][0]


@pytest.mark.parametrize("layout", ["C", "F", "strided", "reversed", "mmap", "float32", "readonly"])
def test_x_read_in_place(layout):
    """No copy of X on the way in: the C++ source reads the caller's memory (same address), and
    the Python layer made no conversion."""
    x = {
        "C": X,
        "F": np.asfortranarray(X),
        "strided": np.repeat(X, 2, axis=1)[:, ::2],
        "reversed": X[::-1],
        "mmap": np.load(CASE.x_path, mmap_mode="r"),
        "float32": X.astype(np.float32),
        "readonly": X.copy(),
    }[layout]
    if layout == "readonly":
        x.flags.writeable = False
    before = _arrays.copies()
    src = lowrank._source(x)
    assert src.data_pointer == address(x)
    assert _arrays.copies() == before
    res = lowrank.solve(W, x, R)
    assert _lowrank.intake_stats()["last_pointer"] == address(x)
    assert _arrays.copies() == before
    if layout in ("C", "F", "strided", "mmap", "readonly"):
        assert res.A.tobytes() == baseline().A.tobytes()  # same values, same answer
    if layout == "float32":
        assert src.data_unit_roundoff == 2.0 ** -24


def test_conversions_are_counted_and_exact():
    x16 = X.astype(np.float16)
    before = _arrays.copies()
    res16 = lowrank.solve(W, x16, R)
    assert _arrays.copies() == before + 1
    res32 = lowrank.solve(W, x16.astype(np.float32), R)
    assert res16.A.tobytes() == res32.A.tobytes()  # widening float16 -> float32 is exact
    big = X.astype(">f8")
    res_be = lowrank.solve(W, big, R)
    assert res_be.A.tobytes() == baseline().A.tobytes()
    assert _arrays.copies() == before + 2  # the widening of float16 and the byte swap


class HasArray:
    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return self.a


def test_array_protocol_and_lists():
    res = lowrank.solve(HasArray(W), HasArray(X), R)
    assert res.A.tobytes() == baseline().A.tobytes()
    res = lowrank.solve(W.tolist(), X, R)
    assert res.A.tobytes() == baseline().A.tobytes()


@pytest.mark.parametrize("bad,message", [
    (X.astype(np.int64), "activations X: dtype int64 is not accepted"),
    (X.astype(np.complex128), "activations X: dtype complex128 is not accepted"),
    (X.reshape(1, *X.shape), "activations X: expected a 2-D array, got 3-D"),
    (X.astype(object), "activations X: dtype object is not a numeric array"),
    (X.astype(np.longdouble), "is not accepted; pass float32 or float64"),
])
def test_refused_x(bad, message):
    with pytest.raises(ValueError, match=message):
        lowrank.solve(W, bad, R)


def test_refused_values_name_the_entry():
    x = X.copy()
    x[5, 3] = np.nan
    with pytest.raises(ValueError, match=r"entry \(5, 3\) is NaN"):
        lowrank.solve(W, x, R)
    w = W.copy()
    w[1, 2] = np.inf
    with pytest.raises(ValueError, match=r"weights W: entry \(1, 2\) is Inf"):
        lowrank.solve(w, X, R)
    with pytest.raises(ValueError, match="shape mismatch"):
        lowrank.solve(W, X[:, :-1], R)
    with pytest.raises(ValueError, match="rank 99 out of range"):
        lowrank.solve(W, X, 99)
    with pytest.raises(ValueError, match="unknown method 'qr'"):
        lowrank.solve(W, X, R, method="qr")
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        lowrank.solve(W, X, R, backend="tpu")
    with pytest.raises(ValueError, match="mu must be a finite number >= 0"):
        lowrank.solve(W, X, R, mu=-1)


def test_gil_released_during_solve():
    """While a long solve runs in a thread, this thread keeps running Python."""
    rng = np.random.default_rng(0)
    big = rng.standard_normal((400_000, 64))
    w = rng.standard_normal((64, 64))
    done = []
    t = threading.Thread(target=lambda: done.append(lowrank.solve(w, big, 8, block=1024)))
    t.start()
    spins = 0
    t0 = time.perf_counter()
    while t.is_alive():
        spins += 1
    t.join()
    assert done and time.perf_counter() - t0 > 0
    assert spins > 10_000, spins


def test_gil_reacquired_for_python_blocks():
    """A block iterator runs Python (with the GIL) from inside the released solve."""
    calls = []

    def gen():
        for i in range(0, X.shape[0], 13):
            calls.append(threading.get_ident())
            yield X[i:i + 13]
    res = lowrank.solve(W, lowrank.blocks(gen), R)
    assert res.A.tobytes() == baseline().A.tobytes() and calls


@needs_torch
def test_torch_cpu_tensors_zero_copy():
    w, x = torch.from_numpy(W.copy()), torch.from_numpy(X.copy())
    before = _arrays.copies()
    src = lowrank._source(x)
    assert src.data_pointer == x.data_ptr()
    res = lowrank.solve(w, x, R)
    assert _arrays.copies() == before
    assert res.A.tobytes() == baseline().A.tobytes()
    # a view with strides, a tensor that requires grad, float32 and bfloat16 tensors
    xt = torch.from_numpy(np.asfortranarray(X))
    assert lowrank._source(xt).data_pointer == xt.data_ptr()
    g = torch.from_numpy(X.copy()).requires_grad_(True)
    assert lowrank.solve(w, g, R).A.tobytes() == res.A.tobytes()
    r32 = lowrank.solve(w.float(), x.float(), R, dtype="float32")
    rb = lowrank.solve(w.float(), x.float().bfloat16(), R, dtype="float32")
    assert r32.A.dtype == np.float32 and rb.A.shape == r32.A.shape
    v = lowrank.check(torch.from_numpy(r32.A), torch.from_numpy(r32.B), w, x, R)
    assert v.dtype == "float32" and v.verdict in ("PASS", "SUSPECT")
    with pytest.raises(ValueError, match="dtype int64 is not accepted"):
        lowrank.solve(w, x.long(), R)


@needs_torch
def test_torch_cuda_tensors():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    w, x = torch.from_numpy(W.copy()).cuda(), torch.from_numpy(X.copy()).cuda()
    before = _arrays.copies()
    res = lowrank.solve(w, x, R)
    assert _arrays.copies() == before + 2  # copied to the host with .cpu()
    assert res.A.tobytes() == baseline().A.tobytes()
