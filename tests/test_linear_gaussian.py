"""The linear-Gaussian environment (issue 16, section 2): its gymnasium and JAX forms against the
model's equations, and against each other."""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.agents import SACConfig, train
from control_as_inference.agents.jax_train import linear_gaussian_env, make_train
from control_as_inference.envs.linear_gaussian import (
    ENV_ID,
    LinearGaussianEnv,
    default_problem,
    linear_gaussian_reset,
    linear_gaussian_step,
    register,
)
from control_as_inference.lqr import LinearGaussianSystem, QuadraticReward

RNG = np.random.default_rng(0)
A = RNG.normal(size=(3, 3)) * 0.5
B = RNG.normal(size=(3, 2))
W = np.diag([0.1, 0.2, 0.05])
Q = np.diag([1.0, 2.0, 0.5])
R = np.array([[1.0, 0.2], [0.2, 0.5]])
N = RNG.normal(size=(3, 2)) * 0.1
QX, QU = RNG.normal(size=3), RNG.normal(size=2)


def _model(noise=W, dtype=np.float64):
    system = LinearGaussianSystem(
        A.astype(dtype), B.astype(dtype), noise.astype(dtype), initial_cov=np.eye(3, dtype=dtype)
    )
    return system, QuadraticReward(*(x.astype(dtype) for x in (Q, R, N, QX, QU)))


def _reward(x, u):
    return -(0.5 * x @ Q @ x + 0.5 * u @ R @ u + x @ N @ u + QX @ x + QU @ u)


def test_without_noise_both_forms_step_exactly_as_the_equations():
    system, reward = _model(noise=np.zeros((3, 3)))
    env = LinearGaussianEnv(system, reward, episode_steps=4)
    env.reset(seed=1)
    for t in range(4):
        u = RNG.normal(size=2)
        x64 = env._x.copy()
        _, r, terminated, truncated, _ = env.step(u)
        np.testing.assert_allclose(env._x, A @ x64 + B @ u, rtol=1e-12)
        np.testing.assert_allclose(r, _reward(x64, u), rtol=1e-12)
        jx, jr = linear_gaussian_step(system, reward, jax.random.key(t), x64, u)
        np.testing.assert_allclose(np.asarray(jx), A @ x64 + B @ u, rtol=1e-12)
        np.testing.assert_allclose(float(jr), _reward(x64, u), rtol=1e-12)
        assert not terminated and truncated == (t == 3)


def test_noise_and_starts_have_the_models_covariances():
    system, reward = _model()
    keys = jax.random.split(jax.random.key(0), 40_000)
    zero_x, zero_u = jnp.zeros(3), jnp.zeros(2)
    steps = jax.vmap(lambda k: linear_gaussian_step(system, reward, k, zero_x, zero_u)[0])(keys)
    starts = jax.vmap(lambda k: linear_gaussian_reset(system, k))(keys)
    # sampling error of a covariance entry ~ sigma_i sigma_j sqrt(2 / n): 0.007 for n = 40k
    np.testing.assert_allclose(np.cov(np.asarray(steps).T), W, atol=0.005)
    np.testing.assert_allclose(np.cov(np.asarray(starts).T), np.eye(3), atol=0.03)
    env = LinearGaussianEnv(system, reward)
    env.reset(seed=0)
    draws = []
    for _ in range(4000):
        env._x = np.zeros(3)
        draws.append(env.step(np.zeros(2))[0])
    np.testing.assert_allclose(np.cov(np.array(draws).T), W, atol=0.02)


def test_the_jax_env_matches_the_equations_and_truncates():
    system, reward = _model(dtype=np.float32)
    env = linear_gaussian_env(system, reward, episode_steps=3, action_bound=2.0)
    assert env.obs_dim == 3 and np.allclose(env.low, -2.0) and np.allclose(env.high, 2.0)
    obs, state = env.reset(jax.random.key(0))
    for t in range(3):
        u = jnp.asarray(RNG.normal(size=2), jnp.float32)
        next_obs, state, r, terminated, truncated = env.step(jax.random.key(t), state, u)
        np.testing.assert_allclose(float(r), _reward(np.asarray(obs), np.asarray(u)), rtol=1e-5)
        assert not bool(terminated) and bool(truncated) == (t == 2)
        obs = next_obs


def test_the_reward_is_the_lqr_convention():
    _, reward = _model()
    x, u = RNG.normal(size=3), RNG.normal(size=2)
    np.testing.assert_allclose(float(reward(x, u)), _reward(x, u), rtol=1e-12)


def test_registered_with_gymnasium_and_usable_by_the_training_loop(tmp_path):
    register()
    register()  # idempotent
    env = gym.make(ENV_ID)
    assert env.action_space.shape == (1,) and env.observation_space.shape == (2,)
    config = SACConfig(
        networks="linear_quadratic", batch_size=16, buffer_size=500, learning_starts=50
    )
    result = train(config, ENV_ID, jax.random.key(0), steps=120, out=str(tmp_path / "run"))
    assert int(result.state.step) == 120
    assert np.all(np.isfinite(np.asarray(result.state.actor.mean.weight)))


def test_the_jitted_loop_runs_the_default_problem():
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam relies on it
        _jitted_run()


def _jitted_run():
    config = SACConfig(
        networks="linear_quadratic", batch_size=16, buffer_size=500, learning_starts=50
    )
    state, returns = jax.jit(make_train(config, linear_gaussian_env(), 100, num_envs=2))(
        jax.random.key(0)
    )
    assert returns.shape == (50, 2) and int(state.step) == 100
    # 50-step episodes: each copy's first episode ends at the last loop step, and only there
    returns = np.asarray(returns)
    assert np.all(np.isfinite(returns[-1])) and np.all(np.isnan(returns[:-1]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(system=_model()[0]), "give both system and reward"),
        (dict(episode_steps=0), "episode_steps"),
        (dict(action_bound=0.0), "action_bound"),
        (dict(system=_model()[0], reward=QuadraticReward(np.eye(2), np.eye(2))), "reward Q"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LinearGaussianEnv(**kwargs)


def test_default_problem_is_the_double_integrator():
    system, reward = default_problem()
    np.testing.assert_allclose(np.asarray(system.A), [[1.0, 0.1], [0.0, 1.0]])
    np.testing.assert_allclose(np.asarray(system.B), [[0.005], [0.1]])
    assert system.A.dtype == jnp.float32 and reward.R.shape == (1, 1)
