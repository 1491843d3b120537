"""Soft Q-learning and discrete SAC from model samples converge to exact soft value iteration;
a hard-max backup does not. Loss values against hand-derived numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.agents import discrete
from control_as_inference.agents.discrete import (
    discrete_actor_loss,
    discrete_sac_target,
    discrete_temperature_loss,
    soft_q_target,
    tabular_discrete_sac,
    tabular_soft_q_learning,
)

ALPHA, GAMMA = 0.5, 0.9


def hard_q_target(q_next, log_prior, reward, terminated, gamma, temperature):
    """The deliberately wrong backup of the negative control: y = r + gamma (1 - d) max_a' Q'
    (no prior, no entropy term), with `soft_q_target`'s signature."""
    return reward + gamma * (1 - terminated) * jnp.max(q_next, axis=-1)


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    s, a = 5, 3
    mdp = cai.TabularMDP(rng.dirichlet(np.ones(s), (s, a)), rng.normal(size=(s, a)))
    return mdp, cai.soft_value_iteration(mdp, ALPHA, GAMMA)


@pytest.mark.slow  # a learning run (about 20 s of CPU)
def test_soft_q_learning_converges_to_soft_value_iteration(problem):
    mdp, exact = problem
    q = tabular_soft_q_learning(
        mdp, ALPHA, GAMMA, jax.random.key(0), updates=8000, batch=4096, learning_rate=1.0, tau=0.2
    )
    assert float(jnp.max(jnp.abs(q - exact.q))) < 1e-2


def test_hard_backup_negative_control(problem, monkeypatch):
    """The same learner with max_a Q' in the target (no entropy term) misses by far, where the
    soft target with the same settings comes close."""
    mdp, exact = problem
    settings = dict(updates=2000, batch=1024, learning_rate=1.0, tau=0.2)
    q = tabular_soft_q_learning(mdp, ALPHA, GAMMA, jax.random.key(0), **settings)
    assert float(jnp.max(jnp.abs(q - exact.q))) < 0.5
    monkeypatch.setattr(discrete, "soft_q_target", hard_q_target)
    q = tabular_soft_q_learning(mdp, ALPHA, GAMMA, jax.random.key(0), **settings)
    assert float(jnp.max(jnp.abs(q - exact.q))) > 0.5


@pytest.mark.slow  # a learning run (about 30 s of CPU)
def test_discrete_sac_reaches_the_soft_optimal_policy(problem):
    mdp, exact = problem
    q1, log_pi = tabular_discrete_sac(
        mdp, ALPHA, GAMMA, jax.random.key(1), updates=8000, batch=4096, learning_rate=1.0, tau=0.2
    )
    tv = 0.5 * jnp.max(jnp.sum(jnp.abs(jnp.exp(log_pi) - exact.policy), axis=1))
    assert float(tv) < 0.01
    # its Q has no prior in the entropy bonus: the library's Q + gamma alpha log|A| / (1 - gamma)
    shift = GAMMA * ALPHA * np.log(3) / (1 - GAMMA)
    assert float(jnp.max(jnp.abs(q1 - shift - exact.q))) < 2e-2


def test_losses_against_hand_values():
    q_next = jnp.array([[1.0, 2.0], [0.0, -1.0]])
    log_prior = jnp.log(jnp.array([[0.5, 0.5], [0.25, 0.75]]))
    reward, done = jnp.array([0.5, -1.0]), jnp.array([0.0, 1.0])
    y = soft_q_target(q_next, log_prior, reward, done, 0.9, 2.0)
    v0 = 2.0 * np.log(0.5 * np.exp(0.5) + 0.5 * np.exp(1.0))
    np.testing.assert_allclose(y, [0.5 + 0.9 * v0, -1.0], rtol=1e-12)
    np.testing.assert_allclose(
        hard_q_target(q_next, log_prior, reward, done, 0.9, 2.0), [0.5 + 0.9 * 2.0, -1.0]
    )
    log_pi = jnp.log(jnp.array([[0.25, 0.75]]))
    q1, q2 = jnp.array([[1.0, 3.0]]), jnp.array([[2.0, 2.0]])
    target = discrete_sac_target(q1, q2, log_pi, jnp.array([1.0]), jnp.array([0.0]), 0.5, 0.1)
    soft = 0.25 * (1.0 - 0.1 * np.log(0.25)) + 0.75 * (2.0 - 0.1 * np.log(0.75))
    np.testing.assert_allclose(target, [1.0 + 0.5 * soft], rtol=1e-12)
    actor = discrete_actor_loss(log_pi, q1, q2, 0.1)
    expected = 0.25 * (0.1 * np.log(0.25) - 1.0) + 0.75 * (0.1 * np.log(0.75) - 2.0)
    np.testing.assert_allclose(actor, expected, rtol=1e-12)
    # J(alpha) = -alpha (sum pi log pi + H): d/dlog alpha = -alpha (sum pi log pi + H)
    neg_entropy = 0.25 * np.log(0.25) + 0.75 * np.log(0.75)
    grad = jax.grad(discrete_temperature_loss)(jnp.log(0.3), log_pi, 0.4)
    np.testing.assert_allclose(grad, -0.3 * (neg_entropy + 0.4), rtol=1e-10)
