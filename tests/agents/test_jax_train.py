"""The fully jitted SAC on JAX environments: it learns, vmapped seeds equal separate runs, copies
of the environment store transitions that follow the pendulum's equations across resets, and a
gymnax-style environment (reset_env/step_env, time-limit done) is adapted with truncations."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.agents import SACConfig
from control_as_inference.agents.jax_train import (
    EPISODE_STEPS,
    from_gymnax,
    make_pendulum_train,
    make_train,
    pendulum_env,
    pendulum_reset,
)
from control_as_inference.envs.pendulum import observation, pendulum_reward, pendulum_step

from .oracles import assert_pendulum_transitions


@pytest.fixture(autouse=True)
def standard_promotion():
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam relies on it
        yield


@pytest.mark.slow
def test_learns_the_jax_pendulum():
    # 30 episodes, as the gymnasium test; after 20 the last episodes still fail from some starts
    train = make_pendulum_train(SACConfig(buffer_size=6000), 6000)
    _, returns = jax.jit(train)(jax.random.key(0))
    returns = np.asarray(returns)[:, 0]
    episodes = returns[~np.isnan(returns)]
    assert len(episodes) == 6000 // EPISODE_STEPS
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
    with pytest.raises(ValueError, match="multiple of num_envs"):
        make_pendulum_train(config, 401, num_envs=2)


def test_copies_store_transitions_that_follow_the_dynamics():
    n, loop_steps = 3, 210
    config = SACConfig(buffer_size=1000, batch_size=16, learning_starts=300, hidden=(16,))
    state, returns = jax.jit(make_pendulum_train(config, n * loop_steps, num_envs=n))(
        jax.random.key(2)
    )
    buffer = state.buffer
    assert int(buffer.size) == n * loop_steps == int(state.step)
    rows = n * loop_steps
    obs, action, reward, next_obs = (
        np.asarray(x)[:rows] for x in (buffer.obs, buffer.action, buffer.reward, buffer.next_obs)
    )
    assert_pendulum_transitions(
        obs, action, reward, next_obs, loop_steps, n, episode_end=EPISODE_STEPS - 1
    )
    returns = np.asarray(returns)
    assert returns.shape == (loop_steps, n)
    ended = ~np.isnan(returns)
    assert ended[EPISODE_STEPS - 1].all() and ended.sum() == n
    np.testing.assert_allclose(
        returns[EPISODE_STEPS - 1], reward[: EPISODE_STEPS * n].reshape(-1, n).sum(0), rtol=1e-5
    )
    # the first update at the first step count >= 300 (loop step 100 of 210): 111 updates
    assert int(state.alpha_opt[0].count) == loop_steps - 99


class _Space(NamedTuple):
    low: float
    high: float
    shape: tuple


class _Params(NamedTuple):
    max_steps_in_episode: int = 7


class _State(NamedTuple):
    x: jax.Array
    time: jax.Array


class FakeGymnaxPendulum:
    """The gymnax interface (reset_env, step_env, spaces, default_params, done at the time limit
    or on a termination), here the pendulum that terminates when theta_dot exceeds 6."""

    default_params = _Params()

    def action_space(self, params):
        return _Space(-2.0, 2.0, (1,))

    def observation_space(self, params):
        return _Space(-8.0, 8.0, (3,))

    def reset_env(self, key, params):
        x = pendulum_reset(key)
        return observation(x), _State(x, jnp.zeros((), jnp.int32))

    def step_env(self, key, state, action, params):
        x = pendulum_step(state.x, action)
        new = _State(x, state.time + 1)
        done = jnp.logical_or(new.time >= params.max_steps_in_episode, jnp.abs(x[1]) > 6)
        return observation(x), new, pendulum_reward(state.x, action), done, {}


def test_gymnax_adapter_splits_done_into_terminated_and_truncated():
    env = from_gymnax(FakeGymnaxPendulum())
    assert env.obs_dim == 3 and env.low.shape == env.high.shape == (1,)
    _, s = env.reset(jax.random.key(0))
    step = jax.jit(env.step)
    truncations = terminations = 0
    for t in range(200):
        action = jnp.array([2.0], jnp.float32)  # full torque: spins up past |theta_dot| = 6
        _, s, _, terminated, truncated = step(jax.random.key(t), s, action)
        assert not (terminated and truncated)
        assert bool(truncated) == (int(s.time) >= 7)
        assert bool(terminated) == (abs(float(s.x[1])) > 6 and int(s.time) < 7)
        truncations += bool(truncated)
        terminations += bool(terminated)
        if terminated or truncated:
            _, s = env.reset(jax.random.key(1000 + t))
    assert truncations > 0 and terminations > 0
    config = SACConfig(buffer_size=100, batch_size=8, learning_starts=20, hidden=(8,))
    state, returns = jax.jit(make_train(config, env, 60, num_envs=2))(jax.random.key(0))
    assert int(state.step) == 60 and np.asarray(returns).shape == (30, 2)
    terminated = np.asarray(state.buffer.terminated[:60])
    np.testing.assert_array_equal(
        terminated == 1, np.abs(np.asarray(state.buffer.next_obs[:60, 2])) > 6
    )


def test_gymnax_adapter_refuses_discrete_actions():
    class Discrete(FakeGymnaxPendulum):
        def action_space(self, params):
            return NamedTuple("D", [("n", int)])(3)

    with pytest.raises(ValueError, match="Box"):
        from_gymnax(Discrete())
    assert pendulum_env().obs_dim == 3


def test_real_gymnax_pendulum_matches_ours():
    """With gymnax installed (not a dependency): its Pendulum-v1 through `from_gymnax` steps as
    our pendulum does and truncates at 200 steps."""
    gymnax = pytest.importorskip("gymnax")
    env = from_gymnax(*gymnax.make("Pendulum-v1"))
    ours = pendulum_env()
    obs, s = env.reset(jax.random.key(0))
    step = jax.jit(env.step)
    for t in range(200):
        action = jax.random.uniform(jax.random.key(t), (1,), jnp.float32, -2.0, 2.0)
        x = jnp.stack([s.theta, s.theta_dot]).astype(jnp.float32)
        expected = ours.step(None, (x, jnp.asarray(t, jnp.int32)), action)
        obs, s, reward, terminated, truncated = step(jax.random.key(t), s, action)
        np.testing.assert_allclose(np.asarray(obs), np.asarray(expected[0]), atol=1e-5)
        np.testing.assert_allclose(float(reward), float(expected[2]), rtol=1e-5)
        assert not terminated and bool(truncated) == (t == 199) == bool(expected[4])
