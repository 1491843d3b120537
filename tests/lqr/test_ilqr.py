"""Soft iLQR: exact on linear-quadratic problems, and a pendulum swing-up in gymnasium."""

import gymnasium as gym
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.envs.pendulum import (
    DT,
    GRAVITY,
    LENGTH,
    MASS,
    MAX_SPEED,
    MAX_TORQUE,
    angle_normalize,
    pendulum_reward,
    pendulum_step,
)
from control_as_inference.lqr import (
    LinearGaussianSystem,
    rollout,
    soft_ilqr,
    soft_lqr,
)

from .test_soft_lqr import random_problem


def test_linear_quadratic_problem_is_solved_exactly(rng):
    """On x' = Ax + Bu with a quadratic reward the first iteration is the soft-LQR solution."""
    _, reward, (a, b, w, *_) = random_problem(rng, n=3, m=2)
    x0 = rng.normal(size=3)
    horizon, temperature = 12, 0.5
    ilqr = soft_ilqr(
        lambda x, u: a @ x + b @ u,
        lambda x, u: reward(x, u),
        jnp.asarray(x0),
        horizon,
        temperature,
        noise=w,
        action_dim=2,
        regularization=0.0,
    )
    known = LinearGaussianSystem(a, b, w, x0)
    sol = soft_lqr(known, reward, horizon, temperature, "variational")
    x = x0
    for t in range(horizon):
        u = sol.K[t] @ x + sol.k[t]
        np.testing.assert_allclose(ilqr.actions[t], u, rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(ilqr.states[t], x, rtol=1e-7, atol=1e-8)
        x = a @ x + b @ u
    np.testing.assert_allclose(ilqr.K, sol.K, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ilqr.Sigma, sol.Sigma, rtol=1e-7, atol=1e-10)
    assert ilqr.converged


def planner_dynamics(x, u):
    """Pendulum-v1's dynamics without the torque clip (the reward keeps |u| <= 2 instead:
    a clip's zero gradient strands iLQR in saturated local optima)."""
    accel = 3 * GRAVITY / (2 * LENGTH) * jnp.sin(x[0]) + 3.0 / (MASS * LENGTH**2) * u[0]
    new_dot = jnp.clip(x[1] + accel * DT, -MAX_SPEED, MAX_SPEED)
    return jnp.stack([x[0] + new_dot * DT, new_dot])


def planner_reward(x, u):
    """Pendulum-v1's cost with 2 (1 - cos theta) for the wrapped angle squared, and a penalty
    beyond the torque limit."""
    over = jnp.maximum(jnp.abs(u[0]) - 0.975 * MAX_TORQUE, 0.0)
    return -(2 * (1 - jnp.cos(x[0])) + 0.1 * x[1] ** 2 + 0.001 * u[0] ** 2 + 100 * over**2)


def swing_up(temperature=0.1):
    horizon = 200
    t = jnp.arange(horizon, dtype=jnp.float64)[:, None]
    pump = jnp.where(t < 64, jnp.sin(2 * jnp.pi * t / 32), 0.0)  # two swings at the natural period
    return soft_ilqr(
        planner_dynamics,
        planner_reward,
        jnp.array([jnp.pi, 0.0]),
        horizon,
        temperature,
        initial_actions=pump,
        max_iterations=2000,  # converges after 1648
    )


def run_in_gymnasium(result):
    env = gym.make("Pendulum-v1")
    env.reset(seed=0)
    env.unwrapped.state = np.array([np.pi, 0.0])
    x, total, angles = np.array([np.pi, 0.0]), 0.0, []
    for t in range(result.actions.shape[0]):
        dx = np.array(x - result.states[t])
        dx[0] = float(angle_normalize(dx[0]))
        u = np.asarray(result.actions[t] + result.K[t] @ dx)
        obs, reward, *_ = env.step(u)  # gymnasium clips the torque itself
        total += reward
        x = np.array([np.arctan2(obs[1], obs[0]), obs[2]], dtype=np.float64)
        angles.append(x[0])
    return total, np.array(angles)


@pytest.mark.slow  # a swing-up in gymnasium
def test_pendulum_swing_up_in_gymnasium():
    result = swing_up()
    total, angles = run_in_gymnasium(result)
    _, predicted = rollout(pendulum_step, pendulum_reward, jnp.array([jnp.pi, 0.0]), result.actions)
    # the JAX model is gymnasium's: the real return is close to the planned one (the feedback acts
    # on float32 observations, and the swing-up amplifies their rounding)
    np.testing.assert_allclose(total, float(predicted), rtol=0.05)
    # swung up and held: upright (|theta| < 0.3) for the last 60 steps
    assert np.all(np.abs(angles[-60:]) < 0.3), angles[-60:]
    # hanging still would cost pi^2 per step
    assert total > -1000 > 200 * -(np.pi**2)
    assert result.converged and result.iterations > 1 and result.history[-1] > result.history[0]


@pytest.mark.slow  # several soft iLQR solves, each compiled
def test_variational_mean_ignores_the_temperature():
    """Ordinary iLQR is the temperature -> 0 limit; the variational mean never depends on it."""
    cold, warm = swing_up(1e-6), swing_up(1.0)
    np.testing.assert_allclose(cold.actions, warm.actions, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(warm.Sigma / cold.Sigma, 1e6, rtol=1e-6)
