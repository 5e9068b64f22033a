"""Deep LoRA on given inputs (lowrank.dynamics.train(lora_inputs=..., target_rank=...), the same as
`lowrank dynamics train --lora-inputs X.npy --target-rank K`): the given X is used as is, the
target has the asked rank, and bad inputs are refused with the option named."""
import numpy as np
import pytest

from lowrank import dynamics


def test_given_inputs_are_used_and_target_rank_is_separate():
    rng = np.random.default_rng(3)
    d, N = 24, 10
    X = rng.standard_normal((N, d))  # N x d, one row per token
    run = dynamics.train(width=d, rank=2, depth=3, eta=0.5, steps=50, eps=0.3, compressed=True, gamma=0.0,
                         lora_samples=N, lora_inputs=X, target_rank=5, record_every=10)
    assert np.array_equal(run.lora_x, X.T)  # the trainer's X is d x N, exactly the given tokens
    s = np.linalg.svd(run.target, compute_uv=False)
    assert np.sum(s > s[0] * 1e-12) == 5     # rank of Phi: --target-rank, not --rank
    assert run.curve["loss"][-1] < run.curve["loss"][0]


@pytest.mark.parametrize("bad, needle", [
    (np.ones((10, 23)), "features, --width is 24"),
    (np.full((10, 24), np.nan), "NaN or Inf"),
])
def test_bad_given_inputs_are_refused(bad, needle):
    with pytest.raises(ValueError, match=needle):
        dynamics.train(width=24, rank=2, eta=0.5, steps=5, compressed=True, lora_samples=10, lora_inputs=bad)


def test_sample_count_must_match_and_target_rank_in_range():
    X = np.ones((10, 24))
    with pytest.raises(ValueError, match="--lora-samples must equal the number of given inputs, 10"):
        dynamics.train(width=24, rank=2, eta=0.5, steps=5, lora_samples=8, lora_inputs=X)
    with pytest.raises(ValueError, match="--target-rank"):
        dynamics.train(width=24, rank=2, eta=0.5, steps=5, target_rank=25)
