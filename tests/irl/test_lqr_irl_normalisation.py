"""Issue 30 item 9: lqr_irl(horizon=None) with two actions fixed N = 0 by default, which cannot
represent a reward whose N' A^-1 B is not symmetric (shaping moves N only by gamma A'SB): it
converged, with no warning, below the true reward's likelihood and with a wrong gain. The
default now fits N when there are two or more actions."""

import jax
import jax.numpy as jnp
import pytest

from control_as_inference.irl import lqr_irl, lqr_log_likelihood
from control_as_inference.lqr import (
    LinearGaussianSystem,
    QuadraticReward,
    sample_trajectories,
    soft_lqr,
    soft_lqr_infinite,
)

ALPHA, GAMMA = 1.0, 0.95


def problem():
    A = jnp.array([[1.0, 0.1], [0.0, 1.0]])
    B = jnp.array([[0.0, 0.05], [0.1, 0.02]])
    system = LinearGaussianSystem(A, B, 0.01 * jnp.eye(2), jnp.zeros(2), jnp.eye(2))
    N = jnp.array([[0.3, -0.2], [0.1, 0.4]])
    reward = QuadraticReward(jnp.eye(2), jnp.eye(2), N)
    asymmetry = N.T @ jnp.linalg.solve(A, B)
    assert float(jnp.max(jnp.abs(asymmetry - asymmetry.T))) > 0.02  # N cannot be shaped away
    return system, reward


@pytest.mark.slow  # two stationary fits through 200 unrolled Riccati backups (~1-2 min loaded)
def test_stationary_default_fits_n_with_two_actions():
    system, reward = problem()
    truth = soft_lqr_infinite(system, reward, ALPHA, discount=GAMMA)
    terminal = (truth.P, truth.p, jnp.zeros(()))
    sampler = soft_lqr(system, reward, 40, ALPHA, discount=GAMMA, terminal=terminal)
    states, actions = sample_trajectories(system, sampler, jax.random.key(0), 300)
    true_ll = float(lqr_log_likelihood(reward, system, states, actions, None, ALPHA, GAMMA))
    scale = float(jnp.max(jnp.abs(truth.K)))

    def fitted(fit=None):
        res = lqr_irl(
            system, states, actions, horizon=None, temperature=ALPHA, discount=GAMMA, fit=fit
        )
        gain_error = float(jnp.max(jnp.abs(res.solution.K - truth.K))) / scale
        return true_ll - float(res.log_likelihood[-1]), gain_error

    gap, error = fitted()  # the default: (Q, R, N, q_x)
    assert gap < 0.05 and error < 0.06, (gap, error)
    # the negative control: the old default N = 0 cannot reach the true reward's likelihood
    old_gap, old_error = fitted(("Q", "R", "q_x"))
    assert old_gap > 0.2 and old_error > 0.1, (old_gap, old_error)
