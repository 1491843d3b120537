"""One convergence policy (issue 16, part 4): soft_lqr_infinite and soft_ilqr warn with
`cai.ConvergenceWarning` when they run out of iterations, as the tabular soft value iteration
does (soft_lqr_infinite used to raise ValueError); and soft iLQR results are pytrees of arrays
only (iteration counts and wall time used to be static fields, so no two results shared a tree
structure)."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.lqr import (
    LinearGaussianSystem,
    QuadraticReward,
    SoftILQRResult,
    soft_ilqr,
    soft_lqr_infinite,
)

from .test_soft_lqr import random_problem

# ----------------------------------------------------------------------------- soft LQR


def test_running_out_of_iterations_warns_instead_of_raising(rng):
    system, reward, _ = random_problem(rng)
    with pytest.warns(cai.ConvergenceWarning, match="did not converge in 3 iterations"):
        sol = soft_lqr_infinite(system, reward, 0.5, discount=0.95, max_iterations=3)
    assert not bool(sol.converged) and int(sol.iterations) == 3
    assert float(sol.residual) > 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("error", cai.ConvergenceWarning)
        done = soft_lqr_infinite(system, reward, 0.5, discount=0.95)
    assert bool(done.converged) and float(done.residual) <= 1e-12


def test_an_unstabilisable_system_warns():
    """x' = 1.1 x + w with no control and discount 1: the cost-to-go grows without bound."""
    system = LinearGaussianSystem([[1.1]], [[0.0]], [[0.1]])
    reward = QuadraticReward([[1.0]], [[1.0]])
    with pytest.warns(cai.ConvergenceWarning, match="stabilisable"):
        sol = soft_lqr_infinite(system, reward, 1.0)
    assert not bool(sol.converged)


# ----------------------------------------------------------------------------- soft iLQR


def pendulum(x, u):  # the README's: theta = 0 upright
    return x + 0.05 * jnp.stack([x[1], 15 * jnp.sin(x[0]) + 3 * u[0]])


def pendulum_reward(x, u):
    return -(2 * (1 - jnp.cos(x[0])) + 0.1 * x[1] ** 2 + 0.01 * u[0] ** 2)


def plan(x0, max_iterations=60, horizon=30):
    return soft_ilqr(
        pendulum,
        pendulum_reward,
        jnp.asarray(x0),
        horizon,
        0.1,
        initial_actions=0.1 * jnp.ones((horizon, 1)),
        max_iterations=max_iterations,
    )


def test_results_share_a_tree_structure_and_stack():
    """Two plans that took different numbers of iterations: the same tree structure and leaf
    shapes, so jax.tree.map stacks them leaf by leaf (with static iteration counts and wall
    times their structures differed and tree.map raised)."""
    near, far = plan([0.3, 0.0]), plan([jnp.pi, 0.0])
    assert int(near.iterations) != int(far.iterations)
    assert jax.tree.structure(near) == jax.tree.structure(far)
    stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), near, far)
    assert isinstance(stacked, SoftILQRResult)
    np.testing.assert_array_equal(stacked.iterations, [near.iterations, far.iterations])
    assert stacked.history.shape == (2, 61) and stacked.seconds.shape == (2,)
    for result in (near, far):
        assert bool(result.converged) and float(result.seconds) > 0
        n = int(result.iterations)
        # the history ends with the final return, repeated after the last iteration
        np.testing.assert_array_equal(result.history[n:], float(result.total_reward))
        assert float(result.history[n]) > float(result.history[0])


def test_running_out_of_iterations_warns_and_says_by_how_much():
    with pytest.warns(cai.ConvergenceWarning, match="did not converge in 2 iterations") as record:
        result = plan([jnp.pi, 0.0], max_iterations=2)
    assert "per iteration" in str(record[0].message)
    assert not bool(result.converged) and int(result.iterations) == 2
    assert result.history.shape == (3,)


def test_bad_max_iterations():
    with pytest.raises(ValueError, match="max_iterations"):
        plan([0.3, 0.0], max_iterations=0)
