"""Guided cost learning with SAC on Pendulum (`gcl_irl`): named bad input, and (slow) a run that
is resumed from its checkpoint gives the same learning curve as one run straight through."""

import numpy as np
import pytest

from control_as_inference.agents import SACConfig
from control_as_inference.irl import GCLReward, gcl_irl

TINY = dict(sampler_steps=30, cost_steps=2, samples=3, segment=10, hidden=(8,))


def demos(n=3, t=30, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, t + 1, 3)), rng.uniform(-2, 2, size=(n, t, 1))


@pytest.mark.parametrize(
    ("change", "kwargs", "match"),
    [
        (lambda x, u: (x[..., :2], u), {}, r"states must have shape \(N, T\+1, d\)"),
        (lambda x, u: (x, np.concatenate([u, u], -1)), {}, r"actions must have shape"),
        (lambda x, u: (np.full_like(x, np.nan), u), {}, "states contains NaN"),
        (lambda x, u: (x, u), {"segment": 31}, "segment = 31 is longer"),
        (lambda x, u: (x, u), {"env_id": "CartPole-v1"}, "env_id: expected a gymnasium id"),
    ],
)
def test_bad_input_is_named(change, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gcl_irl(change(*demos()), **{**TINY, **kwargs})


@pytest.mark.slow
def test_resume_continues_the_same_run(tmp_path):
    sac = SACConfig(batch_size=16, buffer_size=200, learning_starts=10, hidden=(16, 16))
    straight = gcl_irl(demos(), steps=3, sac_config=sac, **TINY)
    gcl_irl(demos(), steps=2, sac_config=sac, checkpoint_dir=str(tmp_path), **TINY)
    where = str(tmp_path)
    resumed = gcl_irl(demos(), steps=3, sac_config=sac, checkpoint_dir=where, resume=True, **TINY)
    assert straight.method == "gcl" and isinstance(straight.reward_model, GCLReward)
    assert resumed.iterations == 3 and np.all(np.isfinite(resumed.objective))
    np.testing.assert_allclose(resumed.objective, straight.objective, rtol=1e-5)


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        gcl_irl(demos(), steps=1, checkpoint_dir=str(tmp_path / "none"), resume=True, **TINY)
