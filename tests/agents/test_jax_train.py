"""The fully jitted SAC on the JAX pendulum: it learns, and vmapped seeds equal separate runs."""

import jax
import numpy as np
import pytest

from control_as_inference.agents import SACConfig
from control_as_inference.agents.jax_train import EPISODE_STEPS, make_pendulum_train


@pytest.fixture(autouse=True)
def standard_promotion():
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam relies on it
        yield


@pytest.mark.slow
def test_learns_the_jax_pendulum():
    train = make_pendulum_train(SACConfig(buffer_size=4000), 4000)
    _, returns = jax.jit(train)(jax.random.key(0))
    returns = np.asarray(returns)
    episodes = returns[~np.isnan(returns)]
    assert len(episodes) == 4000 // EPISODE_STEPS
    assert np.all(np.isnan(returns[: EPISODE_STEPS - 1]))
    assert episodes[:3].mean() < -900  # a random policy
    assert episodes[-3:].mean() > -400  # swings up


def test_vmapped_seeds_equal_separate_runs():
    config = SACConfig(buffer_size=500, batch_size=32, learning_starts=50, hidden=(16,))
    train = make_pendulum_train(config, 400)
    keys = jax.random.split(jax.random.key(1), 2)
    _, batched = jax.jit(jax.vmap(train))(keys)
    for i in range(2):
        _, single = jax.jit(train)(keys[i])
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(single), rtol=1e-4)
    with pytest.raises(ValueError, match="steps"):
        make_pendulum_train(config, 0)
