"""X as blocks from Python or as an .npy file: the solver streams it; what one-shot iterators
can and cannot do; errors in the stream."""
import numpy as np
import pytest

import lowrank

CASE = lowrank.corpus(names=["cond_1e08_mu_1e-06"])[0]
X = np.load(CASE.x_path)


def chunks(k):
    def gen():
        for i in range(0, X.shape[0], k):
            yield X[i:i + k]
    return gen


def test_blocks_counted_and_read_per_pass():
    src = lowrank.blocks(chunks(5))
    assert (src.rows, src.cols, src.data_unit_roundoff) == (X.shape[0], X.shape[1], 2.0 ** -53)
    v = lowrank.check(*lowrank.solve(CASE.W, src, CASE.rank, CASE.mu), CASE.W, src, CASE.rank, CASE.mu)
    assert v.passed
    assert src.passes >= 3  # solve, reference, candidate, stable solves: each a new pass


def test_one_shot_iterator():
    res = lowrank.solve(CASE.W, lowrank.blocks(chunks(7)(), rows=X.shape[0]), CASE.rank, CASE.mu)
    assert res.A.tobytes() == lowrank.solve(CASE.W, X, CASE.rank, CASE.mu).A.tobytes()
    with pytest.raises(ValueError, match="one-shot iterator cannot be counted"):
        lowrank.blocks(chunks(7)())
    with pytest.raises(ValueError, match="can be read once"):
        lowrank.check(res.A, res.B, CASE.W, lowrank.blocks(chunks(7)(), rows=X.shape[0]), CASE.rank, CASE.mu)


def test_stream_errors():
    with pytest.raises(ValueError, match="ended after 96 rows, but 100 were declared"):
        lowrank.solve(CASE.W, lowrank.blocks(chunks(8), rows=100), CASE.rank, CASE.mu)
    with pytest.raises(ValueError, match="more than the 90 rows"):
        lowrank.solve(CASE.W, lowrank.blocks(chunks(8), rows=90), CASE.rank, CASE.mu)

    def mixed():
        yield X[:10]
        yield X[10:].astype(np.float32)
    with pytest.raises(ValueError, match="block 1 is float32, the first was float64"):
        lowrank.solve(CASE.W, lowrank.blocks(mixed), CASE.rank, CASE.mu)

    def bad_cols():
        yield X[:10]
        yield X[10:, :-1]
    with pytest.raises(ValueError, match="block 1 has 31 columns, expected 32"):
        lowrank.solve(CASE.W, lowrank.blocks(bad_cols, rows=X.shape[0], cols=X.shape[1], dtype="float64"),
                      CASE.rank, CASE.mu)

    class Boom(Exception):
        pass

    def raising():
        yield X[:10]
        raise Boom("from the user's iterator")
    with pytest.raises(Boom, match="from the user's iterator"):
        lowrank.solve(CASE.W, lowrank.blocks(raising, rows=X.shape[0], cols=X.shape[1], dtype="float64"),
                      CASE.rank, CASE.mu)


def test_npy_path_is_streamed_by_the_cli_reader(tmp_path):
    res = lowrank.solve(CASE.W, CASE.x_path, CASE.rank, CASE.mu, block=16)
    assert res.A.tobytes() == lowrank.solve(CASE.W, X, CASE.rank, CASE.mu, block=16).A.tobytes()
    bad = tmp_path / "X.npy"
    bad.write_bytes(open(CASE.x_path, "rb").read()[:-8])
    with pytest.raises(ValueError, match="X.npy"):
        lowrank.solve(CASE.W, str(bad), CASE.rank, CASE.mu)
